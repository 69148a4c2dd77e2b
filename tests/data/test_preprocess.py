import numpy as np
import pytest
from PIL import Image

from cxrbench.data.preprocess import decode_image, to_square, to_uint8
from cxrbench.errors import ConfigError, DataError


def test_to_square_keeps_aspect_and_centres_with_zero_padding():
    tall = np.full((200, 100), 200, dtype=np.uint8)
    out = to_square(tall, 64)
    assert out.shape == (64, 64) and out.dtype == np.uint8
    # 200x100 → 64x32, centred: columns 16..47 are image, the rest zero padding
    assert (out[:, :16] == 0).all() and (out[:, 48:] == 0).all()
    assert (out[:, 16:48] == 200).all()


def test_to_square_wide_image_pads_rows():
    wide = np.full((30, 90), 255, dtype=np.uint8)
    out = to_square(wide, 90)
    assert (out[:30] == 0).all() and (out[30:60] == 255).all() and (out[60:] == 0).all()


def test_to_square_upsamples_small_images():
    out = to_square(np.full((10, 10), 7, dtype=np.uint8), 32)
    assert out.shape == (32, 32) and (out == 7).all()


def test_to_square_preserves_mean_of_a_gradient():
    grad = np.tile(np.arange(256, dtype=np.uint8), (256, 1))
    out = to_square(grad, 64)
    assert abs(float(out.mean()) - float(grad.mean())) < 1.0


@pytest.mark.parametrize("size", [31, 513, 0, 64.0, True])
def test_sizes_outside_32_to_512_are_refused(size):
    with pytest.raises(ConfigError, match="32–512"):
        to_square(np.zeros((40, 40), np.uint8), size)


def test_to_uint8_scales_16_bit():
    arr = np.array([[0, 1000], [2000, 4000]], dtype=np.uint16)
    assert to_uint8(arr).tolist() == [[0, 64], [128, 255]]


def test_decode_image_reads_and_resizes(tmp_path):
    path = tmp_path / "x.jpg"
    Image.fromarray(np.full((120, 80), 128, np.uint8)).save(path)
    native = decode_image(path)
    assert native.shape == (120, 80)
    assert abs(int(native.mean()) - 128) <= 1
    small = decode_image(path, 48)
    assert small.shape == (48, 48) and small[:, :8].max() == 0


def test_decode_image_converts_rgb_to_gray(tmp_path):
    path = tmp_path / "rgb.png"
    Image.fromarray(np.full((20, 20, 3), (255, 0, 0), np.uint8)).save(path)
    assert decode_image(path).shape == (20, 20)


def test_decode_image_missing_and_corrupt_name_the_path(tmp_path):
    with pytest.raises(DataError, match=r"nope\.jpg: image file not found"):
        decode_image(tmp_path / "nope.jpg")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    with pytest.raises(DataError, match=r"bad\.jpg: corrupt or unreadable image"):
        decode_image(bad)


def test_decode_image_truncated_jpeg_is_an_error_not_grey(tmp_path):
    path = tmp_path / "cut.jpg"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (256, 256), dtype=np.uint8)).save(path, quality=95)
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(DataError, match=r"cut\.jpg: corrupt or unreadable image"):
        decode_image(path, 64)
