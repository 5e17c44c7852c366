"""Hostile and odd image files, written at test time (no committed binaries).

Each generator takes a directory, writes one file into it and returns its Path.

HOSTILE: inputs that load_image must reject with a short ImageError.
ODD:     inputs that load_image must accept and turn into an upright RGB image.
"""
import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["HOSTILE", "ODD", "png_with_size", "RED", "GREEN", "BLUE", "WHITE"]

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def _noise(w: int, h: int, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_with_size(width: int, height: int) -> bytes:
    """A real 1x1 PNG whose IHDR is patched to claim width x height, with a valid CRC.

    PIL's lazy open reads only the header, so Image.open reports the claimed size.
    """
    buf = io.BytesIO()
    Image.new("RGB", (1, 1), RED).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    return bytes(data)


# --- rejected ----------------------------------------------------------------------------------

def truncated_jpeg(d: Path) -> Path:
    buf = io.BytesIO()
    _noise(64, 64).save(buf, "JPEG", quality=95)
    p = d / "truncated.jpg"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return p


def truncated_png(d: Path) -> Path:
    buf = io.BytesIO()
    _noise(64, 64).save(buf, "PNG")
    p = d / "truncated.png"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return p


def corrupt_png_data(d: Path) -> Path:
    """Valid PNG header, IDAT payload overwritten with junk (CRC recomputed so only zlib fails)."""
    junk = bytes(np.random.default_rng(1).integers(0, 256, 200, dtype=np.uint8))
    ihdr = struct.pack(">IIBBBBB", 32, 32, 8, 0, 0, 0, 0)
    p = d / "corrupt.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"x\x9c" + junk)
                  + _chunk(b"IEND", b""))
    return p


def png_signature_only(d: Path) -> Path:
    p = d / "signature.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n")
    return p


def zero_bytes(d: Path) -> Path:
    p = d / "empty.jpg"
    p.write_bytes(b"")
    return p


def text_as_jpg(d: Path) -> Path:
    p = d / "notes.jpg"
    p.write_text("this is not a picture\n" * 20)
    return p


def html_as_png(d: Path) -> Path:
    p = d / "page.png"
    p.write_text("<!doctype html><html><body><img src=x onerror=alert(1)></body></html>")
    return p


def random_bytes_png(d: Path) -> Path:
    p = d / "random.png"
    p.write_bytes(bytes(np.random.default_rng(2).integers(0, 256, 4096, dtype=np.uint8)))
    return p


def decompression_bomb_gif(d: Path) -> Path:
    """A GIF whose logical screen and frame claim 65535x65535."""
    buf = io.BytesIO()
    Image.new("P", (1, 1), 0).save(buf, "GIF")
    data = bytearray(buf.getvalue())
    data[6:10] = struct.pack("<HH", 65535, 65535)             # logical screen
    i = data.index(b",")                                        # image descriptor
    data[i + 5:i + 9] = struct.pack("<HH", 65535, 65535)
    p = d / "bomb.gif"
    p.write_bytes(bytes(data))
    return p


def png_text_bomb(d: Path) -> Path:
    """A small image with a zTXt chunk that inflates past PIL's MAX_TEXT_CHUNK (before IDAT)."""
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), RED).save(buf, "PNG")
    data = buf.getvalue()
    ztxt = _chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"\x00" * (8 * 1024 * 1024), 9))
    i = data.index(b"IDAT") - 4
    p = d / "text-bomb.png"
    p.write_bytes(data[:i] + ztxt + data[i:])
    return p


def _png_claiming(width: int, height: int, name: str):
    """A writer of a tiny PNG whose header claims width x height."""
    def write(d: Path) -> Path:
        p = d / name
        p.write_bytes(png_with_size(width, height))
        return p
    return write


decompression_bomb_png = _png_claiming(30000, 30000, "bomb.png")          # 900 MP: past PIL's own bomb limit
decompression_bomb_png_max = _png_claiming(2**31 - 1, 2**31 - 1, "bomb-max.png")  # the largest a PNG can claim
over_megapixel_limit = _png_claiming(9000, 8000, "too-big.png")           # 72 MP: under PIL's limit, over ours
over_pil_warning_limit = _png_claiming(10000, 10000, "warn-big.png")      # 100 MP: PIL only warns

HOSTILE = {
    "truncated_jpeg": truncated_jpeg,
    "truncated_png": truncated_png,
    "corrupt_png_data": corrupt_png_data,
    "png_signature_only": png_signature_only,
    "zero_bytes": zero_bytes,
    "text_as_jpg": text_as_jpg,
    "html_as_png": html_as_png,
    "random_bytes_png": random_bytes_png,
    "decompression_bomb_png": decompression_bomb_png,
    "decompression_bomb_png_max": decompression_bomb_png_max,
    "decompression_bomb_gif": decompression_bomb_gif,
    "over_megapixel_limit": over_megapixel_limit,
    "over_pil_warning_limit": over_pil_warning_limit,
    "png_text_bomb": png_text_bomb,
}


# --- accepted ----------------------------------------------------------------------------------

def huge_allowed_jpeg(d: Path) -> Path:
    """6000x4000 (24 megapixels), flat colour so it encodes fast and small."""
    p = d / "huge.jpg"
    Image.new("RGB", (6000, 4000), (40, 120, 200)).save(p, "JPEG", quality=80)
    return p


def one_pixel_png(d: Path) -> Path:
    p = d / "pixel.png"
    Image.new("RGB", (1, 1), GREEN).save(p)
    return p


def gray16_png(d: Path) -> Path:
    """16-bit greyscale, a left-to-right gradient spanning 0..65535."""
    a = np.tile(np.linspace(0, 65535, 64).round().astype(np.uint16), (16, 1))
    im = Image.fromarray(a)
    assert im.mode.startswith("I;16"), im.mode
    p = d / "gray16.png"
    im.save(p)
    return p


def cmyk_jpeg(d: Path) -> Path:
    p = d / "cmyk.jpg"
    Image.new("CMYK", (32, 32), (0, 255, 255, 0)).save(p, "JPEG", quality=95)  # red
    return p


def rgba_transparent_png(d: Path) -> Path:
    """Left half opaque blue, right half fully transparent (black underneath)."""
    a = np.zeros((32, 32, 4), dtype=np.uint8)
    a[:, :16] = (0, 0, 255, 255)
    p = d / "rgba.png"
    Image.fromarray(a, "RGBA").save(p)
    return p


def _palette_image() -> Image.Image:
    im = Image.new("P", (32, 32), 0)
    im.putpalette([*RED, *GREEN, *BLUE] + [0] * (253 * 3))
    im.paste(1, (16, 0, 32, 32))  # right half green
    return im


def palette_png(d: Path) -> Path:
    p = d / "palette.png"
    _palette_image().save(p)
    return p


def palette_transparent_png(d: Path) -> Path:
    """Index 1 (the right half) is transparent."""
    p = d / "palette-transparent.png"
    _palette_image().save(p, transparency=1)
    return p


def animated_gif(d: Path) -> Path:
    frames = [Image.new("RGB", (16, 16), c) for c in (RED, GREEN, BLUE)]
    p = d / "animated.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return p


def _exif_jpeg(d: Path, orientation: int) -> Path:
    """40x20 stored image, red 8x8 marker at its stored top-left, EXIF Orientation set."""
    im = Image.new("RGB", (40, 20), (128, 128, 128))
    im.paste(RED, (0, 0, 8, 8))
    exif = Image.Exif()
    exif[0x0112] = orientation
    p = d / f"exif-{orientation}.jpg"
    im.save(p, "JPEG", quality=95, exif=exif.tobytes())
    return p


def exif_rotated_6_jpeg(d: Path) -> Path:
    return _exif_jpeg(d, 6)


def exif_rotated_8_jpeg(d: Path) -> Path:
    return _exif_jpeg(d, 8)


def corrupt_exif_jpeg(d: Path) -> Path:
    """A fine JPEG whose APP1 Exif segment holds junk: the pixels are still usable."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), GREEN).save(buf, "JPEG", quality=95)
    data = buf.getvalue()
    payload = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\xff\xff" + b"\xde\xad\xbe\xef" * 8
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    p = d / "bad-exif.jpg"
    p.write_bytes(data[:2] + app1 + data[2:])
    return p


def gray_l_png(d: Path) -> Path:
    a = np.tile(np.linspace(0, 255, 32).round().astype(np.uint8), (8, 1))
    p = d / "gray.png"
    Image.fromarray(a, "L").save(p)
    return p


def gray_la_png(d: Path) -> Path:
    """Black, with the right half fully transparent."""
    a = np.zeros((16, 32, 2), dtype=np.uint8)
    a[:, :16, 1] = 255
    p = d / "gray-alpha.png"
    Image.fromarray(a, "LA").save(p)
    return p


def float_tiff(d: Path) -> Path:
    """Mode F, left-to-right gradient over an arbitrary range (-3.5 .. 1000.0)."""
    a = np.tile(np.linspace(-3.5, 1000.0, 64, dtype=np.float32), (16, 1))
    im = Image.fromarray(a, "F")
    p = d / "float.tiff"
    im.save(p)
    return p


def float_tiff_nonfinite(d: Path) -> Path:
    """Mode F gradient 0..1 with NaN, +inf and -inf pixels in its first row."""
    a = np.tile(np.linspace(0.0, 1.0, 64, dtype=np.float32), (16, 1))
    a[0, :3] = (np.nan, np.inf, -np.inf)
    p = d / "float-nonfinite.tiff"
    Image.fromarray(a, "F").save(p)
    return p


def bilevel_png(d: Path) -> Path:
    """Mode 1: left half black, right half white."""
    im = Image.new("1", (32, 16), 0)
    im.paste(1, (16, 0, 32, 16))
    p = d / "bilevel.png"
    im.save(p)
    return p


def png_named_jpg(d: Path) -> Path:
    """The extension lies; the content decides."""
    p = d / "really-a-png.jpg"
    Image.new("RGB", (8, 8), BLUE).save(p, "PNG")
    return p


ODD = {
    "huge_allowed_jpeg": huge_allowed_jpeg,
    "one_pixel_png": one_pixel_png,
    "gray16_png": gray16_png,
    "cmyk_jpeg": cmyk_jpeg,
    "rgba_transparent_png": rgba_transparent_png,
    "palette_png": palette_png,
    "palette_transparent_png": palette_transparent_png,
    "animated_gif": animated_gif,
    "exif_rotated_6_jpeg": exif_rotated_6_jpeg,
    "exif_rotated_8_jpeg": exif_rotated_8_jpeg,
    "corrupt_exif_jpeg": corrupt_exif_jpeg,
    "gray_l_png": gray_l_png,
    "gray_la_png": gray_la_png,
    "float_tiff": float_tiff,
    "float_tiff_nonfinite": float_tiff_nonfinite,
    "bilevel_png": bilevel_png,
    "png_named_jpg": png_named_jpg,
}
