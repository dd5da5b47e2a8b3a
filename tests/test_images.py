"""Tests for tfstyle.images: every file mode to uint8 RGB, bad files, atomic saves, range changes.

Every test image is built in `tmp_path` with PIL / numpy; no binary fixtures are shipped.
"""

import os
import stat

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfstyle import images

ORIENTATION_TAG = 0x0112


def _blocks_image(height=32, width=48, block=16) -> np.ndarray:
    """uint8 [H, W, 3] of flat, clearly distinct 16x16 blocks (JPEG-friendly, orientation-revealing)."""
    colours = np.array(
        [[230, 30, 30], [30, 200, 40], [40, 40, 220], [240, 220, 40], [30, 210, 220], [200, 40, 200]],
        dtype=np.uint8,
    )
    rows, cols = np.meshgrid(np.arange(height) // block, np.arange(width) // block, indexing="ij")
    index = (rows * (width // block) + cols) % len(colours)
    return colours[index]


def _run_in_graph(function, value, output_dtype=tf.float32):
    """Runs `function` inside a tf.data map and inside a tf.function; returns both results as numpy."""
    dataset = tf.data.Dataset.from_tensors(value).map(function)
    from_dataset = next(iter(dataset)).numpy()
    from_function = tf.function(function)(tf.constant(value)).numpy()
    return from_dataset, from_function


# ---------------------------------------------------------------------------------------------
# Reading: every common mode -> uint8 [H, W, 3]
# ---------------------------------------------------------------------------------------------


def test_rgb_png_loads_exactly_as_uint8_and_float(tmp_path, rng):
    pixels = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    path = tmp_path / "rgb.png"
    Image.fromarray(pixels, "RGB").save(path)

    loaded = images.read_image_uint8(path)
    assert loaded.dtype == np.uint8 and loaded.shape == (5, 7, 3)
    np.testing.assert_array_equal(loaded, pixels)

    as_float = images.load_image(path)
    assert as_float.dtype == np.float32
    np.testing.assert_allclose(as_float, pixels / 255.0, atol=1e-7)


def test_16_bit_png_is_scaled_to_8_bits(tmp_path):
    values = np.array([[0, 65535, 32768], [257, 1000, 65280]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I")  # the file really is 16-bit

    loaded = images.read_image_uint8(path)
    expected = np.array([[0, 255, 128], [1, 4, 254]], dtype=np.uint8)  # round(v / 65535 * 255)
    np.testing.assert_array_equal(loaded, np.repeat(expected[..., None], 3, axis=-1))


def test_cmyk_jpeg_matches_pil_conversion(tmp_path, rng):
    cmyk = rng.integers(0, 256, size=(4, 4, 4), dtype=np.uint8)
    cmyk = np.kron(cmyk, np.ones((8, 8, 1), dtype=np.uint8))  # 32x32, flat 8x8 blocks
    source = Image.fromarray(cmyk, "CMYK")
    path = tmp_path / "print.jpg"
    source.save(path, quality=98)
    assert Image.open(path).mode == "CMYK"

    loaded = images.read_image_uint8(path)
    reference = np.asarray(source.convert("RGB"), dtype=np.float64)
    assert loaded.shape == (32, 32, 3)
    assert np.abs(loaded - reference).mean() < 4.0


def test_grayscale_l_loads_as_three_equal_channels(tmp_path, rng):
    gray = rng.integers(0, 256, size=(6, 5), dtype=np.uint8)
    path = tmp_path / "gray.png"
    Image.fromarray(gray, "L").save(path)

    loaded = images.read_image_uint8(path)
    assert loaded.shape == (6, 5, 3)
    for channel in range(3):
        np.testing.assert_array_equal(loaded[..., channel], gray)


def _composite_on_white(colour, alpha) -> np.ndarray:
    colour, alpha = np.asarray(colour, np.float64), np.asarray(alpha, np.float64)[..., None] / 255.0
    return colour * alpha + 255.0 * (1.0 - alpha)


def test_rgba_is_composited_on_white(tmp_path):
    rgba = np.array(
        [[[255, 0, 0, 0], [255, 0, 0, 255]], [[0, 0, 255, 128], [10, 20, 30, 255]]], dtype=np.uint8
    )
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)

    loaded = images.read_image_uint8(path)
    np.testing.assert_array_equal(loaded[0, 0], [255, 255, 255])  # fully transparent -> white
    np.testing.assert_array_equal(loaded[0, 1], [255, 0, 0])  # opaque -> its colour
    np.testing.assert_array_equal(loaded[1, 1], [10, 20, 30])
    np.testing.assert_allclose(loaded[1, 0], _composite_on_white(rgba[1, 0, :3], rgba[1, 0, 3]), atol=1)


def test_la_is_composited_on_white(tmp_path):
    la = np.array([[[0, 0], [0, 255], [100, 128]]], dtype=np.uint8)
    path = tmp_path / "gray_alpha.png"
    Image.fromarray(la, "LA").save(path)

    loaded = images.read_image_uint8(path)
    assert loaded.shape == (1, 3, 3)
    np.testing.assert_array_equal(loaded[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(loaded[0, 1], [0, 0, 0])
    np.testing.assert_allclose(loaded[0, 2], _composite_on_white([100] * 3, 128), atol=1)


def test_palette_with_transparent_index_is_composited_on_white(tmp_path):
    palette_image = Image.new("P", (2, 2))
    palette_image.putpalette([255, 0, 0, 0, 0, 255, 0, 128, 0] + [0, 0, 0] * 253)
    palette_image.putdata([0, 1, 2, 0])
    path = tmp_path / "palette.png"
    palette_image.save(path, transparency=0)  # palette index 0 (red) is transparent
    assert Image.open(path).mode == "P"

    loaded = images.read_image_uint8(path)
    expected = np.array([[[255, 255, 255], [0, 0, 255]], [[0, 128, 0], [255, 255, 255]]], dtype=np.uint8)
    np.testing.assert_array_equal(loaded, expected)


@pytest.mark.parametrize("orientation, quarter_turns", [(6, -1), (8, 1), (3, 2)])
def test_exif_rotation_is_applied(tmp_path, orientation, quarter_turns):
    stored = _blocks_image(32, 48)
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    path = tmp_path / f"rotated_{orientation}.jpg"
    Image.fromarray(stored, "RGB").save(path, quality=95, subsampling=0, exif=exif.tobytes())

    with Image.open(path) as raw:  # the pixels as stored, EXIF ignored
        assert raw.getexif()[ORIENTATION_TAG] == orientation
        raw_pixels = np.asarray(raw.convert("RGB"))

    loaded = images.read_image_uint8(path)
    # 6: rotate 90 degrees clockwise to display; 8: counter-clockwise; 3: 180 degrees.
    expected = np.rot90(raw_pixels, k=quarter_turns)
    assert loaded.shape == expected.shape == ((48, 32, 3) if orientation in (6, 8) else (32, 48, 3))
    np.testing.assert_array_equal(loaded, expected)
    # And the content is the intended picture, rotated (within JPEG error): the stored top-left block
    # ends up top-right (6), bottom-left (8) or bottom-right (3).
    assert np.abs(loaded.astype(np.int32) - np.rot90(stored, k=quarter_turns)).mean() < 3.0
    corner = {6: loaded[4, -5], 8: loaded[-5, 4], 3: loaded[-5, -5]}[orientation]
    np.testing.assert_allclose(corner, stored[4, 4], atol=6)


def test_real_grayscale_photo_loads_as_three_equal_channels(shared_data):
    path = shared_data / "content" / "camera_gray.png"
    loaded = images.read_image_uint8(path)
    assert loaded.ndim == 3 and loaded.shape[-1] == 3 and loaded.dtype == np.uint8
    np.testing.assert_array_equal(loaded[..., 0], loaded[..., 1])
    np.testing.assert_array_equal(loaded[..., 1], loaded[..., 2])
    assert loaded.min() < loaded.max()  # a real photo, not a flat fill


# ---------------------------------------------------------------------------------------------
# Reading: bad files
# ---------------------------------------------------------------------------------------------


def test_truncated_jpeg_raises_value_error_naming_the_file(tmp_path, rng):
    path = tmp_path / "cut.jpg"
    Image.fromarray(rng.integers(0, 256, size=(64, 64, 3), dtype=np.uint8)).save(path, quality=90)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])

    with pytest.raises(ValueError, match="truncated") as error:
        images.read_image_uint8(path)
    assert str(path) in str(error.value)


def test_zero_byte_file_raises_value_error(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="empty") as error:
        images.read_image_uint8(path)
    assert str(path) in str(error.value)


def test_text_file_named_jpg_is_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("these are not pixels\n")
    with pytest.raises(ValueError, match="not an image"):
        images.read_image_uint8(path)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.png"):
        images.load_image(tmp_path / "missing.png")


def test_directory_raises_value_error(tmp_path):
    folder = tmp_path / "folder.png"
    folder.mkdir()
    with pytest.raises(ValueError, match="directory"):
        images.read_image_uint8(folder)


# ---------------------------------------------------------------------------------------------
# list_images
# ---------------------------------------------------------------------------------------------


def test_list_images_sorts_and_skips_hidden_and_non_images(tmp_path):
    tiny = Image.new("RGB", (2, 2))
    for name in ("b.png", "a.jpg", "C.PNG", ".hidden.png", "z.webp"):
        tiny.save(tmp_path / name)
    (tmp_path / "readme.txt").write_text("x")
    (tmp_path / "subdir.jpg").mkdir()

    listed = images.list_images(tmp_path)
    assert listed == [str(tmp_path / name) for name in ("C.PNG", "a.jpg", "b.png", "z.webp")]


def test_list_images_empty_folder_raises_value_error(tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match="no images"):
        images.list_images(tmp_path)


def test_list_images_missing_folder_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        images.list_images(tmp_path / "nowhere")


# ---------------------------------------------------------------------------------------------
# Saving
# ---------------------------------------------------------------------------------------------


def test_save_png_round_trip_is_exact_from_uint8_and_float(tmp_path, rng):
    pixels = rng.integers(0, 256, size=(9, 11, 3), dtype=np.uint8)
    images.save_image(tmp_path / "exact.png", pixels)
    np.testing.assert_array_equal(images.read_image_uint8(tmp_path / "exact.png"), pixels)

    images.save_image(tmp_path / "from_float.png", pixels.astype(np.float32) / 255.0)
    np.testing.assert_array_equal(images.read_image_uint8(tmp_path / "from_float.png"), pixels)
    assert sorted(os.listdir(tmp_path)) == ["exact.png", "from_float.png"]  # no temp file left


def test_save_jpeg_round_trip_is_close(tmp_path):
    y, x = np.mgrid[0:32, 0:32] / 31.0
    smooth = np.stack([y, x, 0.5 * (x + y)], axis=-1).astype(np.float32)
    images.save_image(tmp_path / "smooth.jpg", smooth)
    loaded = images.load_image(tmp_path / "smooth.jpg")
    assert loaded.shape == (32, 32, 3)
    assert np.abs(loaded - smooth).mean() < 2.0 / 255.0


def test_save_clips_out_of_range_floats(tmp_path):
    images.save_image(tmp_path / "clipped.png", np.array([[[-0.5, 0.5, 1.7]]], dtype=np.float32))
    np.testing.assert_array_equal(images.read_image_uint8(tmp_path / "clipped.png"), [[[0, 128, 255]]])


def test_save_replaces_an_existing_file_with_normal_permissions(tmp_path):
    path = tmp_path / "out.png"
    images.save_image(path, np.zeros((2, 2, 3), np.uint8))
    images.save_image(path, np.full((2, 2, 3), 200, np.uint8))
    np.testing.assert_array_equal(images.read_image_uint8(path), np.full((2, 2, 3), 200, np.uint8))
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask  # not mkstemp's private 0600
    assert os.listdir(tmp_path) == ["out.png"]


def test_save_unknown_extension_raises_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="extension"):
        images.save_image(tmp_path / "picture.xyz", np.zeros((2, 2, 3), np.uint8))
    assert os.listdir(tmp_path) == []


def test_save_wrong_shape_raises_and_leaves_nothing(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        images.save_image(tmp_path / "batch.png", np.zeros((1, 2, 2, 3), np.uint8))
    assert os.listdir(tmp_path) == []


def test_save_into_missing_folder_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        images.save_image(tmp_path / "missing" / "out.png", np.zeros((2, 2, 3), np.uint8))
    assert os.listdir(tmp_path) == []


def test_save_onto_a_directory_raises_value_error(tmp_path):
    (tmp_path / "taken.png").mkdir()
    with pytest.raises(ValueError, match="directory"):
        images.save_image(tmp_path / "taken.png", np.zeros((2, 2, 3), np.uint8))
    assert os.listdir(tmp_path) == ["taken.png"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores folder permissions")
def test_save_into_read_only_folder_raises_and_leaves_nothing(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(ValueError, match="not writable"):
            images.save_image(folder / "out.png", np.zeros((2, 2, 3), np.uint8))
        assert os.listdir(folder) == []
    finally:
        folder.chmod(0o700)


# ---------------------------------------------------------------------------------------------
# Range changes: eagerly, in tf.data and in tf.function
# ---------------------------------------------------------------------------------------------


def test_to_float_to_uint8_round_trip_is_exact_on_all_values():
    every_value = np.arange(256, dtype=np.uint8).reshape(16, 16, 1).repeat(3, axis=-1)
    as_float = images.to_float(every_value)
    assert as_float.dtype == tf.float32
    np.testing.assert_allclose(as_float.numpy(), every_value / 255.0, atol=1e-7)
    back = images.to_uint8(as_float)
    assert back.dtype == tf.uint8
    np.testing.assert_array_equal(back.numpy(), every_value)

    in_dataset, in_function = _run_in_graph(lambda x: images.to_uint8(images.to_float(x)), every_value)
    np.testing.assert_array_equal(in_dataset, every_value)
    np.testing.assert_array_equal(in_function, every_value)


def test_to_uint8_clips_and_rounds():
    values = np.array([-0.3, 0.0, 0.5 / 255.0, 1.4 / 255.0, 0.5, 1.0, 2.0], dtype=np.float32)
    expected = [0, 0, 0, 1, 128, 255, 255]  # round half to even: 0.5 -> 0, 127.5 -> 128
    np.testing.assert_array_equal(images.to_uint8(values).numpy(), expected)
    in_dataset, in_function = _run_in_graph(images.to_uint8, values)
    np.testing.assert_array_equal(in_dataset, expected)
    np.testing.assert_array_equal(in_function, expected)


def test_signed_range_round_trip_and_clipping(rng):
    unit = rng.uniform(0.0, 1.0, size=(4, 5, 3)).astype(np.float32)
    signed = images.to_signed(unit).numpy()
    np.testing.assert_allclose(signed, unit * 2.0 - 1.0, atol=1e-6)
    assert signed.min() >= -1.0 and signed.max() <= 1.0
    np.testing.assert_allclose(images.from_signed(signed).numpy(), unit, atol=1e-6)
    np.testing.assert_array_equal(images.from_signed(np.array([-3.0, -1.0, 0.0, 1.0, 5.0])).numpy(),
                                  [0.0, 0.0, 0.5, 1.0, 1.0])

    in_dataset, in_function = _run_in_graph(lambda x: images.from_signed(images.to_signed(x)), unit)
    np.testing.assert_allclose(in_dataset, unit, atol=1e-6)
    np.testing.assert_allclose(in_function, unit, atol=1e-6)


def test_value_ranges_by_name():
    unit = np.array([0.0, 0.25, 1.0], dtype=np.float32)
    np.testing.assert_allclose(images.to_value_range(unit, "signed").numpy(), [-1.0, -0.5, 1.0])
    np.testing.assert_array_equal(images.to_value_range(unit, "unit").numpy(), unit)
    outside = np.array([-3.0, -1.0, 0.0, 0.5, 1.0, 5.0], dtype=np.float32)
    np.testing.assert_allclose(images.from_value_range(outside, "signed").numpy(), [0, 0, 0.5, 0.75, 1, 1])
    np.testing.assert_array_equal(images.from_value_range(outside, "unit").numpy(), [0, 0, 0, 0.5, 1, 1])
    in_dataset, in_function = _run_in_graph(lambda x: images.from_value_range(x, "unit"), outside)
    np.testing.assert_array_equal(in_dataset, [0, 0, 0, 0.5, 1, 1])
    np.testing.assert_array_equal(in_function, [0, 0, 0, 0.5, 1, 1])
    with pytest.raises(ValueError, match="value_range must be one of signed, unit, got 'imagenet'"):
        images.to_value_range(unit, "imagenet")


# ---------------------------------------------------------------------------------------------
# Geometry and colour
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "height, width, long_side, expected",
    [(10, 20, 8, (4, 8)), (30, 12, 10, (10, 4)), (7, 7, 3, (3, 3)), (1, 50, 10, (1, 10))],
)
def test_scaled_size_keeps_aspect_ratio(height, width, long_side, expected):
    assert images.scaled_size(height, width, long_side) == expected


def test_resize_long_side_keeps_aspect_ratio_and_range(rng):
    image = rng.uniform(0.0, 1.0, size=(12, 30, 3)).astype(np.float32)
    resized = images.resize_long_side(image, 10).numpy()
    assert resized.shape == (4, 10, 3)
    assert resized.min() >= 0.0 and resized.max() <= 1.0
    flat = np.full((12, 30, 3), 0.25, np.float32)
    np.testing.assert_allclose(images.resize_long_side(flat, 20).numpy(), 0.25, atol=1e-5)
    assert images.resize_long_side(image[None], 15).shape == (1, 6, 15, 3)  # batched


def test_resize_long_side_in_graph_with_unknown_size(rng):
    image = rng.uniform(0.0, 1.0, size=(12, 30, 3)).astype(np.float32)
    eager = images.resize_long_side(image, 10).numpy()

    dataset = tf.data.Dataset.from_generator(
        lambda: iter([image]), output_signature=tf.TensorSpec([None, None, 3], tf.float32)
    ).map(lambda x: images.resize_long_side(x, 10))
    from_dataset = next(iter(dataset)).numpy()
    resize_fn = tf.function(lambda x: images.resize_long_side(x, 10),
                            input_signature=[tf.TensorSpec([None, None, 3], tf.float32)])
    from_function = resize_fn(image).numpy()

    assert from_dataset.shape == from_function.shape == (4, 10, 3)
    np.testing.assert_allclose(from_dataset, eager, atol=1e-6)
    np.testing.assert_allclose(from_function, eager, atol=1e-6)


def test_load_image_with_long_side(tmp_path, rng):
    path = tmp_path / "wide.png"
    Image.fromarray(rng.integers(0, 256, size=(16, 40, 3), dtype=np.uint8)).save(path)
    loaded = images.load_image(path, long_side=20)
    assert loaded.shape == (8, 20, 3) and loaded.dtype == np.float32


def test_yiq_round_trip_and_luma(rng):
    rgb = rng.uniform(0.0, 1.0, size=(3, 4, 3)).astype(np.float32)
    yiq = images.rgb_to_yiq(rgb).numpy()
    luma = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]  # ITU-R BT.601
    np.testing.assert_allclose(yiq[..., 0], luma, atol=1e-6)
    np.testing.assert_allclose(images.yiq_to_rgb(yiq).numpy(), rgb, atol=1e-5)

    grey = np.repeat(np.linspace(0.0, 1.0, 6, dtype=np.float32)[:, None], 3, axis=-1)  # [6, 3], R=G=B
    grey_yiq = images.rgb_to_yiq(grey).numpy()
    np.testing.assert_allclose(grey_yiq[:, 0], grey[:, 0], atol=1e-6)  # Y of grey v is v
    np.testing.assert_allclose(grey_yiq[:, 1:], 0.0, atol=1e-5)  # no chroma

    in_dataset, in_function = _run_in_graph(lambda x: images.yiq_to_rgb(images.rgb_to_yiq(x)), rgb)
    np.testing.assert_allclose(in_dataset, rgb, atol=1e-5)
    np.testing.assert_allclose(in_function, rgb, atol=1e-5)


def test_as_image_takes_a_path_uint8_or_float_and_names_what_is_wrong(tmp_path):
    pixels = _blocks_image(16, 32)
    Image.fromarray(pixels).save(tmp_path / "blocks.png")
    expected = pixels.astype(np.float32) / 255.0
    for value in (tmp_path / "blocks.png", str(tmp_path / "blocks.png"), pixels, expected.astype(np.float64)):
        image = images.as_image(value, "content")
        assert image.dtype == np.float32 and image.shape == (16, 32, 3)
        np.testing.assert_allclose(image, expected, atol=1e-6)
    with pytest.raises(ValueError, match=r"style 2 must be an \[H, W, 3\] RGB image, got shape \(16, 32\)"):
        images.as_image(pixels[..., 0], "style 2")
    with pytest.raises(FileNotFoundError):
        images.as_image(tmp_path / "missing.png", "content")
