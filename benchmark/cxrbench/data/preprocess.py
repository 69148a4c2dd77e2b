"""The one geometric transform every image goes through: longest side to `size`, pad to square.

Also the JPEG/PNG decoder the real sources share, so that the pixels a classifier sees do not
depend on which source or code path decoded them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from cxrbench.errors import ConfigError, DataError

MIN_SIZE, MAX_SIZE = 32, 512


def check_size(size: int) -> int:
    """Return `size` if it is an int in 32–512, else raise ConfigError."""
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not MIN_SIZE <= size <= MAX_SIZE:
        raise ConfigError(f"image size must be an integer in {MIN_SIZE}–{MAX_SIZE}, got {size!r}")
    return int(size)


def check_images(images: np.ndarray, what: str, *, n: int | None = None, size: int | None = None,
                 error: type[Exception] = DataError) -> np.ndarray:
    """Validate an image set: a uint8 array (N, S, S) of square images, non-empty, of side `size`
    when given; with `n`, exactly (n, size, size). Raises `error` naming the set (`what`) and the fault."""
    if not isinstance(images, np.ndarray):
        raise error(f"{what}: expected a numpy array of images, got {type(images).__name__}")
    if images.dtype != np.uint8:
        raise error(f"{what}: dtype {images.dtype}; expected uint8 (0-255 pixels)")
    if n is not None and images.shape != (n, size, size):
        raise error(f"{what}: shape {images.shape}; expected ({n}, {size}, {size})")
    if images.ndim != 3:
        raise error(f"{what}: expected grayscale images of shape (N, S, S), got shape {images.shape}")
    if images.shape[0] == 0:
        raise error(f"{what}: the image set is empty")
    if images.shape[1] != images.shape[2]:
        raise error(f"{what}: images must be square, got {images.shape[1]}x{images.shape[2]}")
    if size is not None and images.shape[1] != size:
        raise error(f"{what}: images are {images.shape[1]}x{images.shape[2]}, expected {size}x{size}")
    return images


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Bring a 2-D grayscale array to uint8: uint8 as is, wider integers and floats min–max scaled."""
    arr = np.asarray(pixels)
    if arr.ndim != 2:
        raise DataError(f"expected a 2-D grayscale image, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr
    arr = arr.astype(np.float64)
    lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
    if hi <= lo:
        return np.zeros(arr.shape, dtype=np.uint8)
    return np.round((np.nan_to_num(arr, nan=lo) - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def _resized_shape(height: int, width: int, size: int) -> tuple[int, int]:
    scale = size / max(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def _pad_square(image: Image.Image, size: int) -> np.ndarray:
    out = np.zeros((size, size), dtype=np.uint8)
    arr = np.asarray(image, dtype=np.uint8)
    h, w = arr.shape
    top, left = (size - h) // 2, (size - w) // 2
    out[top:top + h, left:left + w] = arr
    return out


def to_square(pixels: np.ndarray, size: int) -> np.ndarray:
    """Resize so the longest side is `size` (antialiased bilinear), centre, pad with zeros.

    Returns uint8 (size, size). Non-uint8 input is min–max scaled to uint8 first.
    """
    size = check_size(size)
    arr = to_uint8(pixels)
    h, w = _resized_shape(*arr.shape, size)
    image = Image.fromarray(arr, mode="L")
    if (h, w) != arr.shape:
        image = image.resize((w, h), Image.Resampling.BILINEAR)
    return _pad_square(image, size)


def decode_image(path: str | Path, size: int | None = None) -> np.ndarray:
    """Decode an image file to uint8 2-D grayscale.

    With `size`, returns the `to_square(…, size)` result and lets the JPEG decoder skip
    resolution it does not need (DCT scaling, never below 2×size), which is what makes
    decoding full-size CheXpert/MIMIC files affordable. Raises DataError naming the path for a
    missing, unreadable or corrupt file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image file not found")
    try:
        with Image.open(path) as image:
            if size is not None:
                image.draft("L", (2 * size, 2 * size))
            image.load()
            if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                arr = to_uint8(np.asarray(image))
            else:
                arr = np.asarray(image.convert("L"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        reason = str(exc).replace(f" {str(path)!r}", "").replace(str(path), "") or type(exc).__name__
        raise DataError(f"{path}: corrupt or unreadable image ({reason})") from None
    if arr.ndim != 2 or min(arr.shape) == 0:
        raise DataError(f"{path}: decoded to an empty or non-2-D image of shape {arr.shape}")
    return arr if size is None else to_square(arr, size)
