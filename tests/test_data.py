"""Tests for tfstyle.data: ops eagerly and inside tf.data, bucketing, unpaired epochs, resume, TFDS."""

import collections
import socket
import textwrap

import helpers
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfstyle import data, images


def _save(path, array, **options):
    Image.fromarray(np.asarray(array, np.uint8)).save(path, **options)
    return str(path)


def _random_images(folder, count, size, rng, prefix="img"):
    folder.mkdir(parents=True, exist_ok=True)
    return [_save(folder / f"{prefix}_{i:02d}.png", rng.integers(0, 256, (*size, 3))) for i in range(count)]


def _constant_images(folder, count, size=(20, 24)):
    """Image i is flat grey 20 * i + 10: its identity survives resize, crop and flip."""
    folder.mkdir(parents=True, exist_ok=True)
    return [_save(folder / f"flat_{i:02d}.png", np.full((*size, 3), 20 * i + 10)) for i in range(count)]


def _as_numpy(dataset):
    return [tuple(np.asarray(t) for t in element) for element in dataset]


def _assert_same_batches(left, right):
    assert len(left) == len(right)
    for batch_left, batch_right in zip(left, right, strict=True):
        for tensor_left, tensor_right in zip(batch_left, batch_right, strict=True):
            np.testing.assert_array_equal(tensor_left, tensor_right)


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def test_folder_paths_lists_images_sorted_and_rejects_empty_or_missing(tmp_path, rng):
    paths = _random_images(tmp_path / "A", 3, (8, 8), rng)
    (tmp_path / "A" / "notes.txt").write_text("not an image")
    assert data.folder_paths(tmp_path / "A") == sorted(paths)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images"):
        data.folder_paths(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match="missing"):
        data.folder_paths(tmp_path / "missing")


def test_validate_image_files_returns_decoded_sizes_including_exif_rotation(tmp_path, rng):
    plain = _save(tmp_path / "plain.png", rng.integers(0, 256, (10, 14, 3)))
    gray = _save(tmp_path / "gray.png", rng.integers(0, 256, (6, 9)))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display: decoded H and W swap
    rotated = _save(tmp_path / "rotated.jpg", rng.integers(0, 256, (12, 20, 3)), exif=exif)
    sizes = data.validate_image_files([plain, gray, rotated])
    assert sizes == [(10, 14), (6, 9), (20, 12)]
    assert [images.read_image_uint8(p).shape[:2] for p in (plain, gray, rotated)] == sizes


def test_validate_image_files_names_the_bad_file(tmp_path, rng):
    good = _save(tmp_path / "good.png", rng.integers(0, 256, (8, 8, 3)))
    fake = tmp_path / "fake.png"
    fake.write_text("this is text, not a PNG")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="fake.png"):
        data.validate_image_files([good, str(fake)])
    with pytest.raises(ValueError, match="empty.jpg"):
        data.validate_image_files([str(empty), good])
    with pytest.raises(FileNotFoundError, match="nowhere.png"):
        data.validate_image_files([good, str(tmp_path / "nowhere.png")])
    with pytest.raises(ValueError, match="no image files"):
        data.validate_image_files([])


# ---------------------------------------------------------------------------------------------
# Ops, eagerly and inside tf.data
# ---------------------------------------------------------------------------------------------


def test_read_image_eager_and_in_tf_data_match_images_module(tmp_path, rng):
    color = _save(tmp_path / "color.png", rng.integers(0, 256, (7, 5, 3)))
    gray = _save(tmp_path / "gray.png", rng.integers(0, 256, (4, 6)))
    for path in (color, gray):
        expected = images.read_image_uint8(path)
        eager = data.read_image(tf.constant(path))
        assert eager.dtype == tf.uint8
        np.testing.assert_array_equal(eager, expected)
    mapped = tf.data.Dataset.from_tensor_slices([color, gray]).map(data.read_image)
    assert mapped.element_spec.shape.as_list() == [None, None, 3]
    for path, image in zip((color, gray), mapped, strict=True):
        np.testing.assert_array_equal(image, images.read_image_uint8(path))


def _gradient_image(size=48):
    """uint8 [size, size, 3]: R = 4 * column, G = 4 * row, B = 128; each pixel names its position."""
    rows, columns = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    return np.stack([4 * columns, 4 * rows, np.full_like(rows, 128)], axis=-1).astype(np.uint8)


def _locate_crop(source, crop):
    """(top, left, flipped) of `crop` inside `source`, checked pixel for pixel."""
    top = int(crop[0, 0, 1]) // 4
    flipped = crop[0, 0, 0] > crop[0, -1, 0]
    left = int(crop[0, -1 if flipped else 0, 0]) // 4
    window = source[top:top + crop.shape[0], left:left + crop.shape[1]]
    np.testing.assert_array_equal(crop, window[:, ::-1] if flipped else window)
    return top, left, bool(flipped)


def test_preprocess_unpaired_is_a_true_crop_and_flip_of_the_source():
    source = _gradient_image(48)
    outcomes = set()
    for seed in range(16):
        out = data.preprocess_unpaired(source, [seed, 7], load_size=48, crop_size=32)
        assert out.shape == (32, 32, 3) and out.dtype == tf.float32
        assert -1.0 <= float(tf.reduce_min(out)) and float(tf.reduce_max(out)) <= 1.0
        crop = images.to_uint8(images.from_signed(out)).numpy()
        outcomes.add(_locate_crop(source, crop))
    assert {flipped for _, _, flipped in outcomes} == {False, True}
    assert len({(top, left) for top, left, _ in outcomes}) > 4
    again = data.preprocess_unpaired(source, [3, 7], load_size=48, crop_size=32)
    np.testing.assert_array_equal(again, data.preprocess_unpaired(source, [3, 7], load_size=48, crop_size=32))


def test_preprocess_unpaired_same_result_in_tf_data_and_eval_mode_only_resizes():
    source = _gradient_image(40)
    seeds = np.array([[s, 1] for s in range(4)], np.int64)
    mapped = tf.data.Dataset.from_tensor_slices(seeds).map(
        lambda seed: data.preprocess_unpaired(tf.constant(source), seed, load_size=40, crop_size=24))
    for seed, image in zip(seeds, mapped, strict=True):
        expected = data.preprocess_unpaired(source, seed, load_size=40, crop_size=24)
        np.testing.assert_array_equal(image, expected)
    evaluated = data.preprocess_unpaired(source, load_size=40, crop_size=24, training=False)
    expected = images.to_signed(images.resize(images.to_float(source), (24, 24)))
    np.testing.assert_allclose(evaluated, expected, atol=1e-6)
    with pytest.raises(ValueError, match="larger than load_size"):
        data.preprocess_unpaired(source, [0, 0], load_size=20, crop_size=24)


# ---------------------------------------------------------------------------------------------
# Style transfer: content_batches
# ---------------------------------------------------------------------------------------------


def test_content_batches_buckets_by_size_without_padding(tmp_path, rng):
    # Long side 30: (40, 60) -> (20, 30); (60, 40) -> (30, 20); (90, 90) -> (30, 30).
    shapes = [(40, 60), (60, 40), (40, 60), (90, 90), (40, 60), (90, 90), (40, 60)]
    paths = [_save(tmp_path / f"c{i}.png", rng.integers(0, 256, (*size, 3))) for i, size in enumerate(shapes)]
    dataset = data.content_batches(paths, long_side=30, batch_size=2)
    batches = [(list(p.numpy()), im.numpy()) for p, im in dataset]
    names = [[p.decode().rsplit("/", 1)[1] for p in batch_paths] for batch_paths, _ in batches]
    # Full batches as they fill, then the partial one of each size left, in increasing (H, W).
    assert names == [["c0.png", "c2.png"], ["c3.png", "c5.png"], ["c4.png", "c6.png"], ["c1.png"]]
    for batch_paths, batch in batches:
        assert batch.dtype == np.float32 and 0.0 <= batch.min() and batch.max() <= 1.0
        for path, image in zip(batch_paths, batch, strict=True):
            np.testing.assert_allclose(image, images.load_image(path.decode(), long_side=30), atol=2e-6)
    assert [b.shape[1:3] for _, b in batches] == [(20, 30), (30, 30), (20, 30), (30, 20)]
    again = [list(p.numpy()) for p, _ in data.content_batches(paths, long_side=30, batch_size=2)]
    assert again == [batch_paths for batch_paths, _ in batches]


def test_content_batches_truncated_file_error_names_it(tmp_path, rng):
    good = _save(tmp_path / "good.jpg", rng.integers(0, 256, (48, 48, 3)))
    whole = (tmp_path / "good.jpg").read_bytes()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(whole[: len(whole) * 3 // 4])
    assert data.validate_image_files([good, str(truncated)]) == [(48, 48), (48, 48)]  # header is fine
    with pytest.raises(tf.errors.OpError, match="truncated.jpg"):
        list(data.content_batches([good, str(truncated)], long_side=8, batch_size=1))
    half_png = tmp_path / "half.png"  # a PNG header check must not decode the pixels either
    png = images.encode_image(rng.integers(0, 256, (48, 48, 3)).astype(np.uint8), "x.png")
    half_png.write_bytes(png[:400])
    assert data.validate_image_files([str(half_png)]) == [(48, 48)]
    with pytest.raises(tf.errors.OpError, match="half.png"):
        list(data.content_batches([str(half_png)], long_side=8, batch_size=1))


# ---------------------------------------------------------------------------------------------
# CycleGAN: unpaired epochs
# ---------------------------------------------------------------------------------------------


def test_steps_per_epoch_is_max_domain_over_batch_at_least_one():
    assert data.steps_per_epoch(52, 25, 1) == 52
    assert data.steps_per_epoch(25, 52, 4) == 13
    assert data.steps_per_epoch(3, 2, 8) == 1
    with pytest.raises(ValueError):
        data.steps_per_epoch(0, 5, 1)
    with pytest.raises(ValueError):
        data.steps_per_epoch(5, 5, 0)


def test_unpaired_indices_cycle_the_shorter_domain_and_depend_on_seed_and_epoch():
    index_a, index_b = data.unpaired_indices(7, 3, batch_size=2, seed=1, epoch=0)
    assert len(index_a) == len(index_b) == 6  # 7 // 2 batches of 2
    assert len(set(index_a.tolist())) == 6 and set(index_a.tolist()) <= set(range(7))
    assert sorted(collections.Counter(index_b.tolist()).values()) == [2, 2, 2]  # each B twice
    index_a, index_b = data.unpaired_indices(3, 7, batch_size=1, seed=1, epoch=0)
    assert sorted(collections.Counter(index_a.tolist()).values()) == [2, 2, 3]  # A cycled over 7 slots
    assert sorted(index_b.tolist()) == list(range(7))
    same = data.unpaired_indices(3, 7, batch_size=1, seed=1, epoch=0)
    np.testing.assert_array_equal(same[1], index_b)
    assert not np.array_equal(data.unpaired_indices(3, 7, batch_size=1, seed=1, epoch=1)[1], index_b)
    assert not np.array_equal(data.unpaired_indices(3, 7, batch_size=1, seed=2, epoch=0)[1], index_b)
    index_a, index_b = data.unpaired_indices(2, 1, batch_size=4)  # fewer images than one batch: repeat
    assert sorted(index_a.tolist()) == [0, 0, 1, 1] and index_b.tolist() == [0, 0, 0, 0]
    serial_a, serial_b = data.unpaired_indices(5, 3, batch_size=1, training=False)
    assert serial_a.tolist() == [0, 1, 2, 3, 4] and serial_b.tolist() == [0, 1, 2, 0, 1]


def test_unpaired_dataset_yields_the_indexed_images_with_shapes_and_range(tmp_path):
    paths_a = _constant_images(tmp_path / "A", 5)
    paths_b = _constant_images(tmp_path / "B", 3)
    dataset = data.unpaired_dataset(paths_a, paths_b, load_size=18, crop_size=16, batch_size=2, seed=4,
                                    epoch=2)
    assert [spec.shape.as_list() for spec in dataset.element_spec] == [[2, 16, 16, 3]] * 2
    batches = _as_numpy(dataset)
    assert len(batches) == data.steps_per_epoch(5, 3, 2) == 2
    index_a, index_b = data.unpaired_indices(5, 3, batch_size=2, seed=4, epoch=2)
    image_a = np.concatenate([a for a, _ in batches])
    image_b = np.concatenate([b for _, b in batches])
    assert image_a.dtype == np.float32 and image_a.min() >= -1.0 and image_a.max() <= 1.0
    expected_a = (20 * index_a + 10) / 255.0 * 2.0 - 1.0  # flat grey i, in [-1, 1]
    expected_b = (20 * index_b + 10) / 255.0 * 2.0 - 1.0
    for image, expected in ((image_a, expected_a), (image_b, expected_b)):
        expected = np.broadcast_to(expected[:, None, None, None], image.shape)
        np.testing.assert_allclose(image, expected, atol=1e-5)


def test_unpaired_dataset_deterministic_per_seed_and_epoch(tmp_path, rng):
    paths_a = _random_images(tmp_path / "A", 6, (20, 20), rng)
    paths_b = _random_images(tmp_path / "B", 4, (20, 20), rng)

    def epoch(seed, number):
        return _as_numpy(data.unpaired_dataset(paths_a, paths_b, load_size=20, crop_size=12, batch_size=3,
                                               seed=seed, epoch=number))

    first = epoch(0, 0)
    _assert_same_batches(first, epoch(0, 0))
    assert not np.array_equal(first[0][0], epoch(0, 1)[0][0])
    assert not np.array_equal(first[0][0], epoch(1, 0)[0][0])


def test_unpaired_dataset_skip_batches_equals_dropping_the_first_batches(tmp_path, rng):
    paths_a = _random_images(tmp_path / "A", 9, (14, 18), rng)
    paths_b = _random_images(tmp_path / "B", 4, (16, 12), rng)
    kwargs = dict(load_size=14, crop_size=12, batch_size=2, seed=3, epoch=5)
    full = _as_numpy(data.unpaired_dataset(paths_a, paths_b, **kwargs))
    assert len(full) == 4
    for skip in (1, 3, 4):
        _assert_same_batches(_as_numpy(data.unpaired_dataset(paths_a, paths_b, skip_batches=skip, **kwargs)),
                             full[skip:])
    with pytest.raises(ValueError, match="skip_batches"):
        data.unpaired_dataset(paths_a, paths_b, skip_batches=5, **kwargs)


def test_image_dataset_shows_every_image_once_per_epoch_and_skips_exactly(tmp_path):
    paths = _constant_images(tmp_path / "photos", 7)
    kwargs = dict(load_size=18, crop_size=16, batch_size=2, seed=4)
    batches = [np.asarray(batch) for batch in data.image_dataset(paths, epoch=1, **kwargs)]
    assert len(batches) == 3 and batches[0].shape == (2, 16, 16, 3)  # 7 // 2, the remainder dropped
    grey = np.round((np.concatenate(batches)[:, 0, 0, 0] + 1.0) / 2.0 * 255.0)
    shown = ((grey - 10) / 20).astype(int)  # image i is flat grey 20 i + 10
    assert len(set(shown)) == 6 and set(shown) <= set(range(7))  # no repeats within an epoch
    other_epoch = [np.asarray(batch) for batch in data.image_dataset(paths, epoch=2, **kwargs)]
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other_epoch, strict=True))
    skipped = [np.asarray(batch) for batch in data.image_dataset(paths, epoch=1, skip_batches=2, **kwargs)]
    assert len(skipped) == 1 and np.array_equal(skipped[0], batches[2])
    with pytest.raises(ValueError, match="no images"):
        data.image_dataset([], **kwargs)


def test_tfds_images_reads_a_prepared_split_and_refuses_a_missing_one_offline(tmp_path):
    tfds = pytest.importorskip("tensorflow_datasets")
    with tfds.testing.mock_data(num_examples=3):
        photos = data.tfds_images("tf_flowers", split="train")
        batches = [np.asarray(batch) for batch in data.image_dataset(photos, load_size=20, crop_size=16,
                                                                     batch_size=3)]
    assert len(photos) == 3 and len(batches) == 1 and batches[0].shape == (3, 16, 16, 3)
    with pytest.raises(FileNotFoundError, match="tfds build coco/2017"):
        data.tfds_images("coco/2017", data_dir=str(tmp_path), download=False)


def test_unpaired_dataset_skipped_examples_are_never_decoded(tmp_path, rng):
    broken = tmp_path / "A" / "a_00_broken.png"
    paths_a = _random_images(tmp_path / "A", 3, (8, 8), rng, prefix="a_01")
    broken.write_text("not a PNG")
    paths_a = [str(broken)] + paths_a  # serial order: only slot 0 (batch 0) reads the broken file
    paths_b = _random_images(tmp_path / "B", 4, (8, 8), rng)
    kwargs = dict(load_size=8, crop_size=8, batch_size=1, training=False)
    assert len(_as_numpy(data.unpaired_dataset(paths_a, paths_b, skip_batches=1, **kwargs))) == 3
    with pytest.raises(tf.errors.OpError, match="a_00_broken.png"):
        _as_numpy(data.unpaired_dataset(paths_a, paths_b, **kwargs))


def test_unpaired_dataset_input_pipelines_each_take_their_slice_of_every_global_batch(tmp_path, rng):
    paths_a = _random_images(tmp_path / "A", 7, (12, 12), rng)
    paths_b = _random_images(tmp_path / "B", 3, (12, 12), rng)
    kwargs = dict(load_size=12, crop_size=8, batch_size=6, seed=2, epoch=1)
    paths_a += paths_a  # 14 A images: 2 global batches of 6
    whole = _as_numpy(data.unpaired_dataset(paths_a, paths_b, skip_batches=1, **kwargs))
    for pipeline in range(3):  # 3 workers with 2 replicas each: per-replica batch 1
        context = tf.distribute.InputContext(num_input_pipelines=3, input_pipeline_id=pipeline,
                                             num_replicas_in_sync=6)
        mine = _as_numpy(data.unpaired_dataset(paths_a, paths_b, skip_batches=1, input_context=context,
                                               **kwargs))
        assert len(mine) == 2 and mine[0][0].shape == (1, 8, 8, 3)
        # Global batch 1 (after the skip), rows 2 * pipeline and 2 * pipeline + 1.
        expected = [tuple(t[2 * pipeline + row: 2 * pipeline + row + 1] for t in whole[0]) for row in (0, 1)]
        _assert_same_batches(mine, expected)


def test_unpaired_dataset_eval_mode_is_serial_and_unaugmented(tmp_path, rng):
    paths_a = _random_images(tmp_path / "A", 3, (20, 28), rng)
    paths_b = _random_images(tmp_path / "B", 2, (24, 16), rng)
    batches = _as_numpy(data.unpaired_dataset(paths_a, paths_b, crop_size=16, batch_size=1, training=False))
    assert len(batches) == 3
    for position, (image_a, image_b) in enumerate(batches):
        for image, path in ((image_a, paths_a[position]), (image_b, paths_b[position % 2])):
            expected = images.to_signed(images.resize(images.load_image(path), (16, 16)))
            np.testing.assert_allclose(image[0], expected, atol=1e-6)


def test_unpaired_dataset_rejects_bad_arguments(tmp_path, rng):
    paths = _random_images(tmp_path / "A", 2, (8, 8), rng)
    with pytest.raises(ValueError, match="at least one image"):
        data.unpaired_dataset(paths, [], load_size=8, crop_size=8)
    with pytest.raises(ValueError, match="larger than load_size"):
        data.unpaired_dataset(paths, paths, load_size=8, crop_size=16)
    with pytest.raises(ValueError, match="list of image paths"):
        data.unpaired_dataset(str(tmp_path / "A"), paths, load_size=8, crop_size=8)


_MIRRORED_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from tfstyle import data
    paths_a, paths_b = data.folder_paths(sys.argv[1]), data.folder_paths(sys.argv[2])
    dataset = data.unpaired_dataset(paths_a, paths_b, load_size=12, crop_size=8, batch_size=4, seed=1)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    whole = list(dataset)
    count = 0
    for index, (image_a, image_b) in enumerate(strategy.experimental_distribute_dataset(dataset)):
        for replicas, expected in ((image_a, whole[index][0]), (image_b, whole[index][1])):
            parts = strategy.experimental_local_results(replicas)
            assert [p.shape[0] for p in parts] == [2, 2], [p.shape for p in parts]
            np.testing.assert_array_equal(np.concatenate(parts), expected)
        count += 1
    assert count == len(whole) == 2, count
    from_function = strategy.distribute_datasets_from_function(
        lambda context: data.unpaired_dataset(paths_a, paths_b, load_size=12, crop_size=8, batch_size=4,
                                              seed=1, input_context=context))
    for index, (image_a, image_b) in enumerate(from_function):
        for replicas, expected in ((image_a, whole[index][0]), (image_b, whole[index][1])):
            parts = strategy.experimental_local_results(replicas)
            assert [p.shape[0] for p in parts] == [2, 2], [p.shape for p in parts]
            np.testing.assert_array_equal(np.concatenate(parts), expected)
        count += 1
    assert count == 4, count
    print("OK", count)
""")


def test_unpaired_dataset_splits_the_global_batch_under_mirrored_strategy(tmp_path, rng):
    _random_images(tmp_path / "A", 8, (12, 12), rng)
    _random_images(tmp_path / "B", 5, (12, 12), rng)
    script = tmp_path / "mirrored_data.py"
    script.write_text(_MIRRORED_SCRIPT)
    result = helpers.run_script(script, tmp_path / "A", tmp_path / "B", timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "OK 4" in result.stdout


# ---------------------------------------------------------------------------------------------
# CycleGAN: TFDS source (offline)
# ---------------------------------------------------------------------------------------------


def test_encoded_images_decode_bytes_and_accept_decoded_arrays(rng):
    pixels = rng.integers(0, 256, (9, 7, 3)).astype(np.uint8)
    encoded = images.encode_image(pixels, "x.png")
    gray = rng.integers(0, 256, (5, 4, 1)).astype(np.uint8)
    source = data.EncodedImages("toy/trainA", (encoded, pixels, gray))
    assert len(source) == 3
    np.testing.assert_array_equal(source.read(0), pixels)
    np.testing.assert_array_equal(source.read(1), pixels)
    np.testing.assert_array_equal(source.read(2), np.repeat(gray, 3, axis=-1))
    with pytest.raises(ValueError, match=r"toy/trainA\[0\]"):
        data.EncodedImages("toy/trainA", (encoded[:20],)).read(0)


def test_tfds_unpaired_under_mock_data_feeds_the_same_pipeline():
    tfds = pytest.importorskip("tensorflow_datasets")
    probed = []
    with tfds.testing.mock_data(num_examples=5):
        images_a, images_b = data.tfds_unpaired("cycle_gan/horse2zebra",
                                                probe=lambda url: probed.append(url) or True)
        assert probed == [data.CYCLE_GAN_DOWNLOAD_URL]  # mock builders are never "prepared"
        assert (len(images_a), len(images_b)) == (5, 5)
        assert images_a.name == "cycle_gan/horse2zebra/trainA"
        assert images_a.read(0).dtype == np.uint8 and images_a.read(0).shape[-1] == 3
        dataset = data.unpaired_dataset(images_a, images_b, load_size=20, crop_size=16, batch_size=2, seed=1)
        batches = _as_numpy(dataset)
        again = _as_numpy(data.unpaired_dataset(images_a, images_b, load_size=20, crop_size=16, batch_size=2,
                                                seed=1, skip_batches=1))
    assert len(batches) == 2 and batches[0][0].shape == (2, 16, 16, 3)
    assert all(-1.0 <= b.min() and b.max() <= 1.0 for batch in batches for b in batch)
    _assert_same_batches(again, batches[1:])


def test_tfds_unpaired_missing_dataset_offline_fails_at_once_saying_how_to_fix(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(FileNotFoundError) as error:
        data.tfds_unpaired("cycle_gan/horse2zebra", data_dir=str(tmp_path), probe=lambda url: False)
    message = str(error.value)
    assert "tfds build cycle_gan/horse2zebra --data_dir" in message
    assert "--domain_a/--domain_b" in message and str(tmp_path) in message
    with pytest.raises(FileNotFoundError, match="download is off"):
        data.tfds_unpaired("horse2zebra", data_dir=str(tmp_path), download=False)
    assert not list(tmp_path.rglob("*.tfrecord*"))


def test_tfds_unpaired_unknown_name_lists_the_cycle_gan_configs():
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(ValueError, match="horse2zebra.*monet2photo|monet2photo.*horse2zebra"):
        data.tfds_unpaired("cycle_gan/horse2zebbra")
    with pytest.raises(ValueError, match="cycle_gan/<config>"):
        data.tfds_unpaired("mnist/horse2zebra")
    with pytest.raises(ValueError, match="split"):
        data.tfds_unpaired("cycle_gan/horse2zebra", split="validation")


def test_host_reachable_on_local_sockets_only():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        assert data.host_reachable(f"http://127.0.0.1:{server.getsockname()[1]}/", timeout=2.0)
    with socket.socket() as closed:  # a port that was free a moment ago: connection refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    assert not data.host_reachable(f"http://127.0.0.1:{port}/", timeout=2.0)
    assert not data.host_reachable("not a url", timeout=2.0)


# ---------------------------------------------------------------------------------------------
# Folders of real pictures: made from the bundled images, and ../shared/data when it is there
# ---------------------------------------------------------------------------------------------


def _gray_digit_set(root):
    """5 A (8 px) and 3 B (20 px) grayscale ("L") PNGs, white strokes on black, like the shared digits."""
    for domain, count, size in (("A", 5, 8), ("B", 3, 20)):
        folder = root / domain
        folder.mkdir(parents=True)
        for index in range(count):
            canvas = np.zeros((size, size), np.uint8)
            canvas[1:-1, size // 2 - 1 + index % 2] = 255  # a vertical stroke
            canvas[size // 3, 1:-1] = 200  # and a bar
            Image.fromarray(canvas, "L").save(folder / f"{domain.lower()}_{index}.png")
    return root


@pytest.fixture(params=["bundled", "gray", "shared photo2painting", "shared digits"])
def unpaired_set(request, tmp_path):
    """(A folder, B folder, grayscale?) of a small unpaired set; the shared ones skip without ../shared."""
    if request.param == "bundled":
        root = helpers.make_two_domain_set(tmp_path)
    elif request.param == "gray":
        root = _gray_digit_set(tmp_path)
    else:
        root = request.getfixturevalue("shared_data") / "unpaired" / request.param.split()[1]
    return root / "A", root / "B", request.param in ("gray", "shared digits")


def test_unpaired_sets_of_real_files_load_at_32_px(unpaired_set):
    folder_a, folder_b, grayscale = unpaired_set
    paths_a, paths_b = data.folder_paths(folder_a), data.folder_paths(folder_b)
    dataset = data.unpaired_dataset(paths_a, paths_b, load_size=36, crop_size=32, batch_size=4, seed=0)
    batches = _as_numpy(dataset.take(3))
    assert len(batches) == min(3, data.steps_per_epoch(len(paths_a), len(paths_b), 4))
    for image_a, image_b in batches:
        for image in (image_a, image_b):
            assert image.shape == (4, 32, 32, 3) and image.dtype == np.float32
            assert -1.0 <= image.min() < image.max() <= 1.0
            if grayscale:  # grayscale PNGs: R == G == B, white strokes on black
                np.testing.assert_array_equal(image[..., 0], image[..., 2])
                assert image.min() < -0.9 and image.max() > 0.5
            else:
                assert np.abs(image[..., 0] - image[..., 2]).max() > 0.1  # colour kept
    assert data.steps_per_epoch(len(paths_a), len(paths_b), 4) == max(len(paths_a), len(paths_b)) // 4


def _made_content_folder(root):
    """Photos of several sizes, aspect ratios and formats cut from the bundled images (one grayscale)."""
    root.mkdir()
    with Image.open(helpers.ASSETS / "astronaut.jpg") as photo, \
            Image.open(helpers.ASSETS / "vangogh_starry_night.jpg") as painting:
        photo, painting = photo.convert("RGB"), painting.convert("RGB")
        photo.resize((90, 60)).save(root / "wide.jpg")
        photo.resize((60, 90)).save(root / "tall.png")
        painting.resize((90, 60)).save(root / "wide_painting.png")
        painting.resize((45, 30)).save(root / "small_wide.jpg")
        photo.resize((50, 50)).convert("L").save(root / "gray_square.png")
    return root


@pytest.fixture(params=["made", "shared"])
def content_folder(request, tmp_path):
    if request.param == "shared":
        return request.getfixturevalue("shared_data") / "content"
    return _made_content_folder(tmp_path / "content")


def test_content_folder_batches_by_size(content_folder):
    paths = data.folder_paths(content_folder)
    sizes = data.validate_image_files(paths)
    batches = [(p.numpy(), im.numpy()) for p, im in data.content_batches(paths, long_side=32, batch_size=4)]
    seen = [p.decode() for batch_paths, _ in batches for p in batch_paths]
    assert sorted(seen) == sorted(paths)
    expected = {path: images.scaled_size(*size, 32) for path, size in zip(paths, sizes, strict=True)}
    assert len({expected[path] for path in paths}) <= len(batches)  # one size per batch
    for batch_paths, batch in batches:
        assert batch.shape[0] <= 4 and max(batch.shape[1:3]) == 32
        assert all(expected[p.decode()] == batch.shape[1:3] for p in batch_paths)
