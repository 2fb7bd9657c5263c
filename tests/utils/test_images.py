"""Image files: natural order, RGB channel order, one-line errors for unreadable files."""
import cv2
import numpy as np
import pytest

from utils.images import ImageReadError, list_images, natural_key, read_rgb


def test_list_images_is_in_natural_order_and_skips_other_files(tmp_path):
    for name in ("frame10.png", "Frame9.jpg", "frame100.PNG", "notes.txt", "frame2.webp"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "frame1.png").mkdir()
    names = [p.split("/")[-1] for p in list_images(str(tmp_path))]
    assert names == ["frame2.webp", "Frame9.jpg", "frame10.png", "frame100.PNG"]
    assert natural_key("a9") < natural_key("A10")


def test_read_rgb_returns_rgb_order(tmp_path):
    bgr = np.zeros((4, 6, 3), np.uint8)
    bgr[..., 2] = 200  # red in OpenCV's BGR
    cv2.imwrite(str(tmp_path / "red.png"), bgr)
    rgb = read_rgb(str(tmp_path / "red.png"))
    assert rgb.shape == (4, 6, 3) and rgb.dtype == np.uint8
    assert (rgb[..., 0] == 200).all() and (rgb[..., 1:] == 0).all()


@pytest.mark.parametrize("content", [None, b"\x89PNG\r\n\x1a\n truncated"])
def test_unreadable_images_raise_one_line(tmp_path, content):
    path = tmp_path / "im1.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageReadError, match=r"^cannot read image .*im1.png \(missing, truncated"):
        read_rgb(str(path))


def test_read_image_converts_16_bit_grey_and_says_so(tmp_path):
    from utils.images import read_image
    grey = np.full((3, 5), 257 * 200, np.uint16)
    cv2.imwrite(str(tmp_path / "g.png"), grey)
    rgb, note = read_image(str(tmp_path / "g.png"))
    assert rgb.shape == (3, 5, 3) and rgb.dtype == np.uint8 and (rgb == 200).all()
    assert note == "16-bit converted to 8-bit, grey converted to RGB"


def test_float_images_are_rounded_to_8_bit_as_to_uint8_rounds_and_say_their_type():
    import torch
    from utils.images import to_rgb8, to_uint8
    rgb = np.linspace(0, 1, 3 * 64, dtype=np.float32).reshape(8, 8, 3)
    rgb[0, 0] = (0.5, 0.999, 0.002)  # 127.5, 254.7, 0.51: truncation gives 127, 254, 0
    out, note = to_rgb8(np.ascontiguousarray(rgb[..., ::-1]))  # OpenCV's BGR order
    assert np.array_equal(out, to_uint8(torch.from_numpy(rgb).permute(2, 0, 1)))
    assert tuple(out[0, 0]) == (128, 255, 1)
    assert note == "float32 converted to 8-bit"
    assert to_rgb8(np.full((2, 2, 3), 0.25))[1] == "float64 converted to 8-bit"
