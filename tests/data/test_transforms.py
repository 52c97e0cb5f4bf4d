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
