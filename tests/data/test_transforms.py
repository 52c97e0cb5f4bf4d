import io

import numpy as np
import pytest
from PIL import Image

from nodis.data.transforms import load_image, prepare_image
from nodis.errors import ImageError


def save(img, fmt="PNG", **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_modes_are_converted_to_rgb(tmp_path):
    rgba = Image.new("RGBA", (20, 10), (255, 0, 0, 0))  # fully transparent red -> white
    assert load_image(save(rgba)).getpixel((0, 0)) == (255, 255, 255)
    gray = Image.new("L", (5, 5), 77)
    assert load_image(save(gray)).getpixel((1, 1)) == (77, 77, 77)
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))
    out = load_image(save(cmyk, "JPEG"))
    assert out.mode == "RGB" and out.getpixel((2, 2))[0] > 200
    i16 = Image.fromarray(np.full((6, 6), 65535, np.uint16))
    assert load_image(save(i16)).getpixel((0, 0)) == (255, 255, 255)
    pal = Image.new("P", (4, 4))
    assert load_image(save(pal)).mode == "RGB"
    arr = np.zeros((3, 4), np.float32)
    assert load_image(arr).size == (4, 3)


def test_exif_rotation_is_applied():
    img = Image.new("RGB", (40, 20), (0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    out = load_image(save(img, "JPEG", exif=exif.tobytes()))
    assert out.size == (20, 40)


def test_bad_inputs_give_clear_errors(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageError, match="folder"):
        load_image(tmp_path)
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match="empty"):
        load_image(tmp_path / "empty.jpg")
    (tmp_path / "notes.txt").write_text("hello, not an image")
    with pytest.raises(ImageError, match="not an image"):
        load_image(tmp_path / "notes.txt")
    data = save(Image.new("RGB", (64, 64), (9, 9, 9)), "JPEG")
    (tmp_path / "trunc.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageError, match="corrupt or truncated"):
        load_image(tmp_path / "trunc.jpg")
    with pytest.raises(ImageError, match="not an image"):
        load_image(np.zeros((2, 2, 7)))


def test_decompression_bomb_is_refused_quickly():
    # a 20000 x 20000 PNG header (400 MP) must be refused before decoding
    big = Image.new("1", (20000, 20000))
    data = save(big)
    with pytest.raises(ImageError, match="megapixels|too large"):
        load_image(data)


def test_tiny_image_and_prepare_geometry():
    one = load_image(save(Image.new("RGB", (1, 1), (10, 20, 30))))
    x, scale, (h, w) = prepare_image(one, 64, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert x.shape == (3, 64, 64) and scale == 64 and (h, w) == (64, 64)
    wide = Image.new("RGB", (400, 100), (255, 255, 255))
    x, scale, (h, w) = prepare_image(wide, 320, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert scale == 0.8 and (h, w) == (80, 320)
    # padding (bottom) holds the mean colour -> ~0 after normalisation
    assert abs(float(x[:, 200:, :].mean())) < 0.02


def _independent_release_input(img: Image.Image, size: int, mean, std) -> np.ndarray:
    """The release's pipeline written out with PIL and NumPy only: pad right/bottom to a square with
    int(mean * 256), resize the whole square bilinearly, /255, normalise (float32)."""
    w, h = img.size
    side = max(w, h)
    canvas = Image.new("RGB", (side, side), tuple(int(m * 256) for m in mean))
    canvas.paste(img, (0, 0))
    arr = np.asarray(canvas.resize((size, size), Image.BILINEAR), dtype=np.float32) / np.float32(255)
    return ((arr - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)).transpose(2, 0, 1)


@pytest.mark.parametrize("wh", [(1024, 683), (683, 1024), (301, 517), (592, 592)])
def test_prepare_image_is_the_releases_square_pad_then_resize(wh):
    rng = np.random.default_rng(wh[0])
    img = Image.fromarray((rng.random((wh[1], wh[0], 3)) * 255).astype(np.uint8))
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    x, scale, (h, w) = prepare_image(img, 592, mean, std)
    assert np.array_equal(x.numpy(), _independent_release_input(img, 592, mean, std))
    assert scale == 592 / max(wh)
    # im_size as visual_genome.py: the long side 592, the short side truncated
    assert (h, w) == ((592, int(wh[0] * scale)) if wh[1] > wh[0] else (int(wh[1] * scale), 592) if wh[1] < wh[0]
                      else (592, 592))
    assert (124, 116, 103) == tuple(int(m * 256) for m in mean)


def test_resizing_the_content_first_is_not_the_same():
    """Resizing the content and pasting it (the old pipeline) differs on non-square images by whole
    normalised units at the border row and the rounded short side."""
    rng = np.random.default_rng(0)
    img = Image.fromarray((rng.random((683, 1024, 3)) * 255).astype(np.uint8))
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    x, scale, (h, w) = prepare_image(img, 592, mean, std)
    canvas = Image.new("RGB", (592, 592), tuple(int(m * 256) for m in mean))
    canvas.paste(img.resize((592, 394), Image.BILINEAR), (0, 0))
    old = (np.asarray(canvas, np.float32) / 255 - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    assert np.abs(old.transpose(2, 0, 1) - x.numpy()).max() > 0.5


def test_boxes_map_with_the_same_scale():
    """A box drawn on the image lands where the model input shows it: x' = x * 592 / max(w, h)."""
    img = Image.new("RGB", (1000, 600), (255, 255, 255))
    img.paste((0, 0, 0), (300, 200, 500, 400))  # black square, x 300..499, y 200..399
    x, scale, _ = prepare_image(img, 592, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    dark = (x.mean(0) < -0.5).nonzero()
    y0, x0 = dark.min(0).values.tolist()
    y1, x1 = dark.max(0).values.tolist()
    assert abs(x0 - 300 * scale) <= 1 and abs(x1 - 500 * scale) <= 1
    assert abs(y0 - 200 * scale) <= 1 and abs(y1 - 400 * scale) <= 1
