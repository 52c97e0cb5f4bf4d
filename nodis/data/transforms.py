"""Image loading and the model's input transform.

:func:`load_image` turns whatever a user hands us (a path, bytes, a PIL image or an array) into an
8-bit RGB PIL image, or raises :class:`nodis.errors.ImageError` with a message that says why:
unreadable, truncated, not an image, too large (decompression-bomb limit) or empty. EXIF rotation
is applied; grayscale, palette, RGBA/LA (composited on white), CMYK and 16-bit images are converted.

:func:`prepare_image` is the released input pipeline: pad right/bottom to a square with the mean
colour, resize to ``size``, normalise (facts sheet §1).
"""
from __future__ import annotations

import errno
import io
import os
import stat
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageError

if TYPE_CHECKING:  # torch is imported where it is used: image loading and `nodis --help` stay torch-free
    import torch

MAX_PIXELS = 10_000 * 10_000  # refuse larger images (decompression-bomb guard)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")

ImageLike = Union[str, Path, bytes, Image.Image, np.ndarray]


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        hi = arr.max() if arr.size else 0.0
        arr = arr / (65535.0 if hi > 255 else 255.0) * 255.0
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 1.0)
        arr = (arr - lo) / (hi - lo if hi > lo else 1.0) * 255.0
        img = Image.fromarray(arr.astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(bg, img)
    return img.convert("RGB")


#: The Pillow formats nodis decodes (MPO: the JPEGs of many cameras). Others (EPS, which runs
#: Ghostscript, PSD, ...) are refused even when Pillow has a plugin for them.
PIL_FORMATS = ("JPEG", "MPO", "PNG", "BMP", "WEBP", "TIFF", "GIF", "PPM")
Image.init()  # register every plugin, so that Image.open(..., formats=PIL_FORMATS) knows them all
PIL_FORMATS = tuple(f for f in PIL_FORMATS if f in Image.OPEN)  # e.g. WEBP only when Pillow has libwebp


def open_image_file(path: str | Path) -> io.BufferedReader:
    """Open ``path`` for reading if it is a non-empty regular file; else :class:`ImageError` saying
    why (missing, a folder, a FIFO / device / socket, a symlink loop, unreadable, empty). The file is
    opened non-blocking, so a FIFO cannot hang the caller, and checked with ``fstat`` after opening."""
    p = Path(path)
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise ImageError(f"{p}: no such file" + (" (a broken symbolic link)" if os.path.islink(p) else "")) from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ImageError(f"{p}: symbolic link loop; not an image") from None
        if e.errno == errno.EISDIR:
            raise ImageError(f"{p}: is a folder, not an image") from None
        raise ImageError(f"{p}: cannot read file ({e.strerror or e})") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise ImageError(f"{p}: is a folder, not an image")
        if not stat.S_ISREG(st.st_mode):
            kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "a device"
            raise ImageError(f"{p}: is {kind}, not a regular file; only image files are read")
        if st.st_size == 0:
            raise ImageError(f"{p}: file is empty")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        f = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    return f


def image_size(path: str | Path) -> tuple[int, int] | None:
    """``(width, height)`` from the header of the image file ``path`` (nothing decoded), or None when
    it is not a readable image (:func:`load_image` then says why)."""
    try:
        with open_image_file(path) as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(f, formats=PIL_FORMATS) as im:
                return tuple(im.size)  # type: ignore[return-value]
    except Exception:  # noqa: BLE001 - any failure is reported by load_image
        return None


def load_image(src: ImageLike, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Return ``src`` as an RGB PIL image (see module docstring for what is accepted)."""
    name = str(src) if isinstance(src, (str, Path)) else type(src).__name__
    if isinstance(src, np.ndarray):
        arr = src
        if arr.ndim not in (2, 3) or arr.size == 0:
            raise ImageError(f"array of shape {arr.shape} is not an image (expected HxW or HxWxC)")
        if arr.dtype != np.uint8:
            arr = np.clip(arr.astype(np.float64) * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        if arr.ndim == 3 and arr.shape[2] not in (3, 4):
            raise ImageError(f"array with {arr.shape[2]} channels is not an image (expected 1, 3 or 4)")
        img = Image.fromarray(arr)
    elif isinstance(src, Image.Image):
        img = src
    else:
        if isinstance(src, (str, Path)):
            fp = open_image_file(src)
        else:
            data = bytes(src)
            if not data:
                raise ImageError(f"{name}: file is empty")
            fp = io.BytesIO(data)
        try:
            with fp, warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                # the header is identified first (a few bytes: a large file that is no image is refused
                # without being read), then the pixels are decoded straight from the file
                img = Image.open(fp, formats=PIL_FORMATS)
                w, h = img.size
                if w * h > max_pixels:
                    raise ImageError(f"{name}: image is {w}x{h} = {w * h / 1e6:.0f} megapixels, more than the "
                                     f"{max_pixels / 1e6:.0f} MP limit; downscale it first")
                img.load()
                return _finish(img, name, max_pixels)  # while the file is open (EXIF of some formats)
        except ImageError:
            raise
        except UnidentifiedImageError:
            raise ImageError(f"{name}: not an image file Pillow can read (JPEG, PNG, BMP, WebP, TIFF, GIF)") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise ImageError(f"{name}: image too large ({e})") from None
        except (OSError, SyntaxError, ValueError) as e:
            raise ImageError(f"{name}: image is corrupt or truncated ({e})") from None
    return _finish(img, name, max_pixels)


def _finish(img: Image.Image, name: str, max_pixels: int) -> Image.Image:
    w, h = img.size
    if w < 1 or h < 1:
        raise ImageError(f"{name}: image has no pixels ({w}x{h})")
    if w * h > max_pixels:
        raise ImageError(f"{name}: image is {w}x{h}, more than the {max_pixels / 1e6:.0f} MP limit; downscale it first")
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block must not make the image unusable
        pass
    return _to_rgb(img)


def prepare_image(img: Image.Image, size: int, mean, std) -> tuple[torch.Tensor, float, tuple[int, int]]:
    """The release's input pipeline: ``SquarePad`` then ``Resize(size)``, then normalise.

    The PIL image is padded right/bottom to a square with the colour ``int(mean * 256)``
    ((124, 116, 103) for the ImageNet mean), and the whole square is resized (bilinear) to
    ``size`` x ``size`` — exactly ``dataloaders/visual_genome.py`` of the release. Boxes map with
    the same ``scale = size / max(w, h)``.

    Returns ``(tensor (3, size, size), scale, (h, w) of the content region)``, the content region
    truncated as the release's ``im_size`` (``int(short * scale)``, the long side ``size``).
    """
    w, h = img.size
    scale = size / max(w, h)
    if h > w:
        content = (size, int(w * scale))
    elif h < w:
        content = (int(h * scale), size)
    else:
        content = (size, size)
    fill = tuple(int(m * 256) for m in mean)
    padded = ImageOps.expand(img, border=(0, 0, max(h - w, 0), max(w - h, 0)), fill=fill)
    canvas = padded.resize((size, size), Image.BILINEAR)
    import torch

    arr = torch.from_numpy(np.asarray(canvas, dtype=np.float32) / 255.0).permute(2, 0, 1)
    m = torch.tensor(mean, dtype=torch.float32)[:, None, None]
    s = torch.tensor(std, dtype=torch.float32)[:, None, None]
    return (arr - m) / s, scale, (max(1, content[0]), max(1, content[1]))
