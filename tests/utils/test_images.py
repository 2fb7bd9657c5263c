"""Image files: natural order, RGB(A) channel order, 8 and 16 bits kept, atomic writes,
one-line errors for unreadable files and failed writes."""
import cv2
import numpy as np
import pytest
import torch

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


def test_the_8_bit_conversion_of_16_bit_grey_says_so(tmp_path):
    from utils.images import to_rgb8
    grey = np.full((3, 5), 257 * 200, np.uint16)
    rgb, note = to_rgb8(grey)
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


def _gradient16(h: int = 8, w: int = 1024) -> np.ndarray:
    """(h, w, 3) uint16 RGB with 1024 distinct levels per channel along x."""
    ramp = (np.arange(w, dtype=np.float64) * 64.06).round().astype(np.uint16)
    return np.stack([np.tile(ramp, (h, 1)), np.tile(ramp[::-1], (h, 1)),
                     np.tile(ramp // 2, (h, 1))], axis=-1)


@pytest.mark.parametrize("ext", [".png", ".tif", ".tiff"])
def test_16_bit_images_round_trip_without_truncation(tmp_path, ext):
    from utils.images import read_image, write_image
    rgb = _gradient16()
    path = str(tmp_path / f"g{ext}")
    write_image(path, rgb)
    back, note = read_image(path)
    assert back.dtype == np.uint16 and back.shape == rgb.shape and note == ""
    assert np.array_equal(back, rgb)
    assert len(np.unique(back[0, :, 0])) > 256  # what an 8-bit path cannot keep


def test_16_bit_images_written_by_another_tool_are_read_in_full(tmp_path):
    from utils.images import read_image
    rgb = _gradient16()
    cv2.imwrite(str(tmp_path / "g.png"), np.ascontiguousarray(rgb[..., ::-1]))  # BGR
    back, note = read_image(str(tmp_path / "g.png"))
    assert np.array_equal(back, rgb) and note == ""


@pytest.mark.parametrize("ext,dtype", [(".png", np.uint8), (".png", np.uint16),
                                       (".tif", np.uint8), (".tif", np.uint16)])
def test_rgba_round_trips_with_its_alpha(tmp_path, ext, dtype):
    from utils.images import read_image, write_image
    rng = np.random.default_rng(0)
    rgba = rng.integers(0, np.iinfo(dtype).max, (9, 7, 4), dtype=dtype, endpoint=True)
    path = str(tmp_path / f"a{ext}")
    write_image(path, rgba)
    back, note = read_image(path)
    assert back.dtype == dtype and note == ""
    assert np.array_equal(back, rgba)


def test_rgba_written_by_another_tool_keeps_alpha_in_rgba_order(tmp_path):
    from PIL import Image
    from utils.images import read_image
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 77  # red, mostly transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    back, note = read_image(str(tmp_path / "a.png"))
    assert back.shape == (4, 6, 4) and note == ""
    assert (back[..., 0] == 200).all() and (back[..., 1:3] == 0).all()
    assert (back[..., 3] == 77).all()


@pytest.mark.parametrize("bits", [8, 16])
def test_grey_and_grey_alpha_become_rgb_and_rgba(tmp_path, bits):
    from PIL import Image
    from utils.images import read_image
    grey = (np.arange(24).reshape(4, 6) * 10).astype(np.uint8)
    alpha = np.full((4, 6), 100, np.uint8)
    if bits == 8:
        Image.fromarray(np.stack([grey, alpha], -1), "LA").save(tmp_path / "la.png")
        Image.fromarray(grey, "L").save(tmp_path / "l.png")
    else:  # cv2 writes 16-bit grey; 16-bit grey + alpha through a 16-bit RGBA of equal channels
        grey, alpha = grey.astype(np.uint16) * 257, alpha.astype(np.uint16) * 257
        cv2.imwrite(str(tmp_path / "l.png"), grey)
        cv2.imwrite(str(tmp_path / "la.png"), np.stack([grey, grey, grey, alpha], -1))
    rgba, note = read_image(str(tmp_path / "la.png"))
    assert rgba.shape == (4, 6, 4) and rgba.dtype == grey.dtype
    assert all(np.array_equal(rgba[..., c], grey) for c in range(3))
    assert np.array_equal(rgba[..., 3], alpha)
    rgb, note = read_image(str(tmp_path / "l.png"))
    assert rgb.shape == (4, 6, 3) and rgb.dtype == grey.dtype
    assert all(np.array_equal(rgb[..., c], grey) for c in range(3))
    assert note == "grey converted to RGB"


def test_read_rgb_gives_the_data_sets_8_bit_rgb_and_says_what_it_changed(tmp_path):
    from utils.images import read_image, read_rgb, to_rgb8
    rgba = np.random.default_rng(1).integers(0, 65535, (5, 5, 4), dtype=np.uint16, endpoint=True)
    cv2.imwrite(str(tmp_path / "a.png"), rgba[..., [2, 1, 0, 3]])
    rgb = read_rgb(str(tmp_path / "a.png"))
    assert rgb.dtype == np.uint8 and rgb.shape == (5, 5, 3)
    assert np.array_equal(rgb, (rgba[..., :3] / 257).round().astype(np.uint8))
    native, _ = read_image(str(tmp_path / "a.png"))
    note = to_rgb8(native[..., [2, 1, 0, 3]])[1]
    assert note == "16-bit converted to 8-bit, alpha channel dropped"


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_as_a_viewer_shows_it(tmp_path, orientation):
    from PIL import Image, ImageOps
    from utils.images import read_image
    rgb = np.random.default_rng(orientation).integers(0, 255, (16, 24, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = str(tmp_path / "o.png")
    Image.fromarray(rgb).save(path, exif=exif)
    viewer = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    back, note = read_image(path)
    assert back.shape == viewer.shape and np.array_equal(back, viewer)


def test_a_profile_that_is_not_srgb_is_named_as_assumed_srgb(tmp_path):
    from PIL import Image, ImageCms
    from utils.images import read_image
    rgb = np.full((4, 4, 3), 128, np.uint8)
    lab = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB"))  # any profile that is not sRGB
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
    Image.fromarray(rgb).save(tmp_path / "other.png", icc_profile=lab.tobytes())
    Image.fromarray(rgb).save(tmp_path / "srgb.png", icc_profile=srgb.tobytes())
    _, note = read_image(str(tmp_path / "other.png"))
    assert "ICC profile" in note and "assumed sRGB" in note and "\n" not in note
    assert read_image(str(tmp_path / "srgb.png"))[1] == ""


def test_a_write_that_fails_is_one_output_error_line_and_leaves_no_temporary(tmp_path):
    from utils.atomic import OutputError
    from utils.images import write_image
    (tmp_path / "taken.png").mkdir()  # the target is a folder: the final rename fails
    with pytest.raises(OutputError) as e:
        write_image(str(tmp_path / "taken.png"), np.zeros((4, 4, 3), np.uint8))
    assert str(e.value).startswith("cannot write ") and "\n" not in str(e.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.png"]
    with pytest.raises(OutputError, match=r"^cannot write .*float32"):
        write_image(str(tmp_path / "f.png"), np.zeros((4, 4, 3), np.float32))
    with pytest.raises(OutputError, match=r"^cannot write .*\.jpg.*16-bit"):
        write_image(str(tmp_path / "deep.jpg"), np.zeros((4, 4, 3), np.uint16))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.png"]


def test_write_image_replaces_the_target_in_one_step(tmp_path):
    from utils.images import read_image, write_image
    path = str(tmp_path / "x.png")
    write_image(path, np.zeros((4, 4, 3), np.uint8))
    write_image(path, np.full((4, 4, 3), 9, np.uint8))
    assert (read_image(path)[0] == 9).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.png"]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [3, 4])
def test_tensor_conversions_keep_depth_and_alpha(dtype, channels):
    from utils.images import to_image, to_tensor
    img = np.random.default_rng(2).integers(0, np.iinfo(dtype).max, (5, 7, channels), dtype=dtype,
                                            endpoint=True)
    x = to_tensor(img)
    assert x.shape == (1, channels, 5, 7) and x.dtype == torch.float32
    assert float(x.max()) <= 1 and np.array_equal(to_image(x, dtype), img)
    # one scale rule: the same picture at either depth is the same tensor within 8-bit rounding
    other = np.uint16 if dtype == np.uint8 else np.uint8
    assert (to_tensor(to_image(x, other)) - x).abs().max() <= 0.5 / 255 + 1e-6


def test_tensor_conversions_refuse_other_channel_counts():
    from utils.images import InputError, to_image, to_tensor
    with pytest.raises(InputError, match=r"\(H, W, 3\) or \(H, W, 4\)"):
        to_tensor(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(InputError, match=r"\(3, H, W\) .*4 channels"):
        to_image(torch.zeros(2, 4, 4))


def test_read_image_rgb8_is_read_rgb_with_its_note(tmp_path):
    from utils.images import read_image
    grey = np.full((3, 5), 257 * 200, np.uint16)
    cv2.imwrite(str(tmp_path / "g.png"), grey)
    rgb, note = read_image(str(tmp_path / "g.png"), rgb8=True)
    assert np.array_equal(rgb, read_rgb(str(tmp_path / "g.png"))) and (rgb == 200).all()
    assert note == "16-bit converted to 8-bit, grey converted to RGB"


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_rgba_tiff_says_its_fourth_channel_is_alpha(tmp_path, capfd, dtype):
    # OpenCV's TIFF writer leaves out ExtraSamples, so editors (and OpenCV itself, with a
    # warning on stderr) cannot tell the fourth channel is alpha.
    from PIL import Image
    from utils.images import read_image, write_image
    rgba = np.full((4, 6, 4), 7, dtype)
    write_image(str(tmp_path / "a.tif"), rgba)
    with Image.open(tmp_path / "a.tif") as im:
        assert im.tag_v2.get(338) in (2, (2,))  # unassociated (straight) alpha
    capfd.readouterr()
    back, _ = read_image(str(tmp_path / "a.tif"))
    assert np.array_equal(back, rgba) and "TIFF" not in capfd.readouterr().err


def test_an_8_bit_straight_alpha_tiff_from_an_editor_keeps_its_colour(tmp_path):
    # libtiff's RGBA reader (OpenCV's for 8-bit RGBA TIFF) multiplies the colour by alpha
    from PIL import Image
    from utils.images import read_image
    rgba = np.full((4, 6, 4), 100, np.uint8)
    rgba[..., 3] = 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.tif")  # ExtraSamples = straight alpha
    back, note = read_image(str(tmp_path / "a.tif"))
    assert np.array_equal(back, rgba) and note == ""
