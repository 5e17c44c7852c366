"""Reading untrusted images into upright RGB, with a clear ImageError for anything unusable."""
import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageError

__all__ = ["ImageError", "load_image", "MAX_PIXELS", "MAX_SIDE"]

MAX_PIXELS = 64_000_000     # decoded size limit: a 64-megapixel RGB image is ~190 MB in memory
MAX_SIDE = 1024             # larger images are downscaled before preprocessing (models take <= 256 px)


def _open(src) -> Image.Image:
    if isinstance(src, Image.Image):
        return src
    if isinstance(src, np.ndarray):
        try:
            return Image.fromarray(src)
        except (TypeError, ValueError):
            raise ImageError(f"cannot make an image of an array of shape {src.shape} and type {src.dtype} "
                             "(expected HxW, HxWx3 or HxWx4 uint8)") from None
    if isinstance(src, (bytes, bytearray)):
        if not src:
            raise ImageError("the file is empty (0 bytes)")
        fp = io.BytesIO(src)
    else:
        path = Path(src)
        if not path.is_file():
            raise ImageError(f"no such file: {path.name}")
        if path.stat().st_size == 0:
            raise ImageError(f"{path.name} is empty (0 bytes)")
        fp = path
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(fp)
    except UnidentifiedImageError:
        raise ImageError("not an image, or an image format that cannot be read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"the image is too large to decode safely (limit {MAX_PIXELS // 1_000_000} megapixels)") \
            from None
    except OSError as e:
        if e.errno is not None:  # the file system, not the data; strerror leaves out the path
            raise ImageError(f"cannot read the file ({e.strerror})") from None
        raise ImageError(f"the image data is truncated or corrupt ({e})") from None
    except (SyntaxError, ValueError, EOFError) as e:  # e.g. a PNG text chunk that inflates past PIL's limit
        raise ImageError(f"the image data is truncated or corrupt ({e})") from None


def _to_8bit(im: Image.Image) -> Image.Image:
    """16-bit and float greyscale scaled to 8 bits (PIL's convert would clip them to white)."""
    a = np.asarray(im, dtype=np.float64)
    if im.mode.startswith("I"):
        a = a / (65535.0 if a.max() > 255 else 255.0)
    else:  # "F": stretch its own range, NaN and infinities set to its ends
        finite = a[np.isfinite(a)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)
        a = np.nan_to_num(a, nan=lo, posinf=hi, neginf=lo)
        a = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    return Image.fromarray((a.clip(0, 1) * 255).round().astype(np.uint8), "L")


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode.startswith("I") or im.mode == "F":
        im = _to_8bit(im)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    return im.convert("RGB")


def load_image(src, max_side: int = MAX_SIDE) -> Image.Image:
    """Open a path, bytes, array or PIL image as an upright RGB image, at most max_side pixels a side.

    Animated images give their first frame; transparency is composited onto white; EXIF
    orientation is applied. Raises ImageError with a user-facing message otherwise.
    """
    im = _open(src)
    w, h = im.size
    if w * h > MAX_PIXELS:
        raise ImageError(f"the image is {w}x{h} = {w * h / 1e6:.0f} megapixels; the limit is "
                         f"{MAX_PIXELS // 1_000_000} megapixels")
    if w < 1 or h < 1:
        raise ImageError("the image has no pixels")
    try:
        if getattr(im, "n_frames", 1) > 1:
            im.seek(0)
        if im.format == "JPEG":
            im.draft("RGB", (max_side, max_side))  # decode JPEGs at reduced scale: fast for huge photos
        im.load()
        im = ImageOps.exif_transpose(im)
        im = _to_rgb(im)
    except ImageError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"the image data is truncated or corrupt ({e})") from None
    if max(im.size) > max_side:
        im.thumbnail((max_side, max_side), Image.BICUBIC)
    return im
