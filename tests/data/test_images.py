"""load_image on hostile and odd inputs: a short ImageError, or an upright RGB image."""
import warnings

import numpy as np
import pytest
from PIL import Image
from support.hostile import BLUE, GREEN, HOSTILE, ODD, RED, WHITE

from vitspace import ImageError
from vitspace.data.images import MAX_PIXELS, MAX_SIDE, load_image

GREY = (128, 128, 128)


def close(pixel, expected, tol: int = 12) -> bool:
    return all(abs(int(a) - int(b)) <= tol for a, b in zip(pixel, expected))


def row(im: Image.Image, y: int | None = None) -> list[int]:
    """Red channel along a row (greyscale images have R == G == B)."""
    y = im.height // 2 if y is None else y
    return [im.getpixel((x, y))[0] for x in range(im.width)]


def assert_user_message(msg: str, tmp_path) -> None:
    assert msg and len(msg) <= 200, msg
    assert "\n" not in msg and "Traceback" not in msg, msg
    assert str(tmp_path) not in msg and "/tmp" not in msg, msg


# --- rejected ----------------------------------------------------------------------------------

# words the message must contain, where one cause is certain
EXPECTED_WORDS = {
    "zero_bytes": "empty",
    "text_as_jpg": "not an image",
    "html_as_png": "not an image",
    "random_bytes_png": "not an image",
    "png_signature_only": "not an image",
    "truncated_jpeg": "truncated",
    "truncated_png": "truncated",
    "decompression_bomb_png": "megapixels",
    "decompression_bomb_png_max": "megapixels",
    "decompression_bomb_gif": "megapixels",
    "over_megapixel_limit": "megapixels",
    "over_pil_warning_limit": "megapixels",
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_file_rejected(name, tmp_path):
    path = HOSTILE[name](tmp_path)
    with pytest.raises(ImageError) as e:
        load_image(path)
    assert_user_message(str(e.value), tmp_path)
    if name in EXPECTED_WORDS:
        assert EXPECTED_WORDS[name] in str(e.value)


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_bytes_rejected(name, tmp_path):
    data = HOSTILE[name](tmp_path).read_bytes()
    with pytest.raises(ImageError) as e:
        load_image(data)
    assert_user_message(str(e.value), tmp_path)


def test_bombs_are_tiny_files(tmp_path):
    """The header trick: a few bytes on disk, a huge size reported by PIL's lazy open."""
    sizes = {"decompression_bomb_png": (30000, 30000), "decompression_bomb_gif": (65535, 65535),
             "over_megapixel_limit": (9000, 8000)}
    for name, size in sizes.items():
        path = HOSTILE[name](tmp_path)
        assert path.stat().st_size < 200
        assert size[0] * size[1] > MAX_PIXELS
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS, limit = None, Image.MAX_IMAGE_PIXELS
            try:
                with Image.open(path) as im:
                    assert im.size == size
            finally:
                Image.MAX_IMAGE_PIXELS = limit


def test_over_limit_message_gives_size(tmp_path):
    with pytest.raises(ImageError, match=r"9000x8000 = 72 megapixels; the limit is 64"):
        load_image(HOSTILE["over_megapixel_limit"](tmp_path))


def test_missing_file(tmp_path):
    with pytest.raises(ImageError) as e:
        load_image(tmp_path / "nowhere" / "cat.jpg")
    assert "no such file" in str(e.value) and "cat.jpg" in str(e.value)
    assert_user_message(str(e.value), tmp_path)
    with pytest.raises(ImageError, match="no such file"):
        load_image(str(tmp_path / "cat.jpg"))


def test_empty_bytes():
    with pytest.raises(ImageError, match="empty"):
        load_image(b"")


# --- accepted ----------------------------------------------------------------------------------

def check_huge_allowed_jpeg(im):
    assert im.size == (MAX_SIDE, round(MAX_SIDE * 4000 / 6000))
    assert close(im.getpixel((10, 10)), (40, 120, 200))


def check_one_pixel_png(im):
    assert im.size == (1, 1) and im.getpixel((0, 0)) == GREEN


def check_gradient(im, lo: int = 5, hi: int = 250):
    r = row(im)
    assert r[0] <= lo and r[-1] >= hi, r       # spans black to white: not clipped to all white
    assert all(b >= a for a, b in zip(r, r[1:])), r
    assert 96 <= r[len(r) // 2] <= 160, r
    assert len(set(r)) > len(r) // 2, r          # a real gradient, not two levels


def check_gray16_png(im):
    assert im.size == (64, 16)
    check_gradient(im)


def check_cmyk_jpeg(im):
    assert close(im.getpixel((16, 16)), RED, tol=20)


def check_rgba_transparent_png(im):
    assert im.getpixel((4, 16)) == BLUE
    assert im.getpixel((28, 16)) == WHITE      # transparent: composited onto white, not black


def check_palette_png(im):
    assert im.getpixel((4, 16)) == RED and im.getpixel((28, 16)) == GREEN


def check_palette_transparent_png(im):
    assert im.getpixel((4, 16)) == RED and im.getpixel((28, 16)) == WHITE


def check_animated_gif(im):
    assert im.size == (16, 16)
    assert (np.asarray(im) == RED).all()


def check_exif_rotated_6_jpeg(im):
    # stored 40x20 with the marker top-left; Orientation 6 = turn 90 degrees clockwise to view
    assert im.size == (20, 40)
    assert close(im.getpixel((16, 3)), RED, tol=40)
    for corner in ((3, 3), (3, 36), (16, 36)):
        assert close(im.getpixel(corner), GREY, tol=20), corner


def check_exif_rotated_8_jpeg(im):
    # Orientation 8 = turn 90 degrees counter-clockwise: the marker lands bottom-left
    assert im.size == (20, 40)
    assert close(im.getpixel((3, 36)), RED, tol=40)
    for corner in ((3, 3), (16, 3), (16, 36)):
        assert close(im.getpixel(corner), GREY, tol=20), corner


def check_corrupt_exif_jpeg(im):
    assert im.size == (16, 16) and close(im.getpixel((8, 8)), GREEN)


def check_gray_l_png(im):
    assert im.size == (32, 8)
    check_gradient(im, lo=0, hi=255)
    assert all(len(set(im.getpixel((x, 4)))) == 1 for x in range(32))   # still grey


def check_gray_la_png(im):
    assert im.getpixel((4, 8)) == (0, 0, 0) and im.getpixel((28, 8)) == WHITE


def check_float_tiff(im):
    assert im.size == (64, 16)
    check_gradient(im, lo=0, hi=255)


def check_float_tiff_nonfinite(im):
    assert im.size == (64, 16)
    check_gradient(im, lo=0, hi=255)           # NaN / inf pixels do not wipe out the range


def check_bilevel_png(im):
    assert im.getpixel((4, 8)) == (0, 0, 0) and im.getpixel((28, 8)) == WHITE


def check_png_named_jpg(im):
    assert im.getpixel((4, 4)) == BLUE


CHECKS = {name[len("check_"):]: f for name, f in globals().items() if name.startswith("check_")}


def test_every_odd_case_has_a_check():
    assert set(ODD) <= set(CHECKS), set(ODD) - set(CHECKS)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
@pytest.mark.parametrize("name", ODD)
def test_odd_file_accepted(name, tmp_path):
    im = load_image(ODD[name](tmp_path))
    assert isinstance(im, Image.Image) and im.mode == "RGB"
    assert max(im.size) <= MAX_SIDE and min(im.size) >= 1
    CHECKS[name](im)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
@pytest.mark.parametrize("name", ODD)
def test_odd_bytes_same_as_file(name, tmp_path):
    path = ODD[name](tmp_path)
    a, b = load_image(path), load_image(path.read_bytes())
    assert b.mode == "RGB" and a.size == b.size
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_max_side_argument(tmp_path):
    im = load_image(ODD["huge_allowed_jpeg"](tmp_path), max_side=300)
    assert im.size == (300, 200)


# --- arrays and PIL images ---------------------------------------------------------------------

def test_numpy_inputs():
    rgb = np.zeros((10, 20, 3), np.uint8)
    rgb[..., 0] = 255
    im = load_image(rgb)
    assert im.mode == "RGB" and im.size == (20, 10) and im.getpixel((5, 5)) == RED

    grey = np.full((8, 8), 77, np.uint8)
    assert load_image(grey).getpixel((3, 3)) == (77, 77, 77)

    rgba = np.zeros((8, 8, 4), np.uint8)                                   # fully transparent
    assert load_image(rgba).getpixel((3, 3)) == WHITE

    g16 = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (4, 1))
    check_gradient(load_image(g16))

    f32 = np.tile(np.linspace(-1, 1, 64, dtype=np.float32), (4, 1))
    check_gradient(load_image(f32))

    big = np.zeros((MAX_SIDE * 2, MAX_SIDE // 2, 3), np.uint8)
    assert load_image(big).size == (MAX_SIDE // 4, MAX_SIDE)


@pytest.mark.parametrize("array", [
    np.random.rand(8, 8, 3),                 # float64 colour
    np.zeros((8, 8, 5), np.uint8),           # five channels
    np.zeros((1, 8, 8, 3), np.uint8),        # a batch
    np.zeros((8, 8, 3), np.uint16),          # 16-bit colour
    np.array([[None]]),                      # objects
    np.zeros((0, 8, 3), np.uint8),           # no pixels
], ids=["float64-rgb", "5-channels", "4d", "uint16-rgb", "object", "empty"])
def test_unusable_arrays_rejected(array):
    with pytest.raises(ImageError) as e:
        load_image(array)
    assert len(str(e.value)) <= 200 and "Traceback" not in str(e.value)


def test_pil_inputs():
    assert load_image(Image.new("RGBA", (4, 4), (0, 0, 0, 0))).getpixel((0, 0)) == WHITE
    assert load_image(Image.new("CMYK", (4, 4), (0, 0, 0, 0))).getpixel((0, 0)) == WHITE
    with pytest.raises(ImageError, match="megapixels"):
        load_image(Image.new("1", (9000, 8000)))
