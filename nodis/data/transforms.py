"""Image loading and the model's input transform.

:func:`load_image` turns whatever a user hands us (a path, bytes, a PIL image or an array) into an
8-bit RGB PIL image, or raises :class:`nodis.errors.ImageError` with a message that says why:
unreadable, truncated, not an image, too large (decompression-bomb limit) or empty. EXIF rotation
is applied; grayscale, palette, RGBA/LA (composited on white), CMYK and 16-bit images are converted.

:func:`prepare_image` is the released input pipeline: pad right/bottom to a square with the mean
colour, resize to ``size``, normalise (facts sheet §1).
"""
from __future__ import annotations

import io
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
            p = Path(src)
            if not p.exists():
                raise ImageError(f"{p}: no such file")
            if p.is_dir():
                raise ImageError(f"{p}: is a folder, not an image")
            try:
                data = p.read_bytes()
            except OSError as e:
                raise ImageError(f"{p}: cannot read file ({e.strerror or e})") from e
        else:
            data = bytes(src)
        if not data:
            raise ImageError(f"{name}: file is empty")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img = Image.open(io.BytesIO(data))
                w, h = img.size
                if w * h > max_pixels:
                    raise ImageError(f"{name}: image is {w}x{h} = {w * h / 1e6:.0f} megapixels, more than the "
                                     f"{max_pixels / 1e6:.0f} MP limit; downscale it first")
                img.load()
        except ImageError:
            raise
        except UnidentifiedImageError:
            raise ImageError(f"{name}: not an image file Pillow can read (JPEG, PNG, BMP, WebP, TIFF, GIF)") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise ImageError(f"{name}: image too large ({e})") from None
        except (OSError, SyntaxError, ValueError) as e:
            raise ImageError(f"{name}: image is corrupt or truncated ({e})") from None
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
