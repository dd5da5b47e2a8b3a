"""Real-world and hostile image files (tests/image_corpus.py) through the one reader every command uses, the
training data's header check and a command end to end. experiments/harden_images.py runs the whole corpus
through every entry point (the README's reliability table)."""

from __future__ import annotations

import os
import re
import shutil

import helpers
import image_corpus
import numpy as np
import pytest

from tfstyle import data, images


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return image_corpus.write_corpus(tmp_path_factory.mktemp("corpus"))


def _check(case, decoded: np.ndarray) -> None:
    assert case.decodable, f"{case.name} should have been refused"
    assert decoded.dtype == np.uint8 and decoded.shape == case.expected.shape, (case.name, decoded.shape)
    difference = int(np.abs(decoded.astype(np.int16) - case.expected.astype(np.int16)).max())
    assert difference <= case.tolerance, (case.name, difference)


def test_the_reader_decodes_each_case_to_its_picture_or_refuses_it_by_name(corpus):
    assert len(corpus) >= 29
    for case in corpus:
        if case.decodable:
            _check(case, images.read_image_uint8(case.path))
            with open(case.path, "rb") as file:
                _check(case, images.decode_image_uint8(file.read(), case.name))
        else:
            with pytest.raises((ValueError, FileNotFoundError, PermissionError)) as raised:
                images.read_image_uint8(case.path)
            assert re.search(case.refusal, str(raised.value)), (case.name, str(raised.value))
            assert os.path.basename(case.path) in str(raised.value)


def test_exif_orientations_come_out_upright(corpus):
    upright = image_corpus.pattern()
    for case in corpus:
        if case.name.startswith("exif_orientation_"):
            decoded = images.read_image_uint8(case.path)
            orientation = int(case.name.rsplit("_", 2)[1])
            assert decoded.shape[:2] == (upright.shape[:2] if orientation <= 4 else upright.shape[1::-1])


def test_training_data_check_refuses_every_bad_header_before_training(corpus):
    good = [case.path for case in corpus if case.decodable]
    sizes = data.validate_image_files(good)  # (height, width) as decoded, EXIF rotation included
    assert [tuple(size) for size in sizes] == [case.expected.shape[:2] for case in corpus if case.decodable]
    for case in corpus:
        if case.decodable or not os.path.isfile(case.path):
            continue
        if case.name.startswith("truncated"):  # a sound header: refused when decoded, by name (headers only here)
            data.validate_image_files([case.path])
            with pytest.raises(Exception, match=re.escape(os.path.basename(case.path))):
                data.read_image(case.path).numpy()
        else:
            with pytest.raises(ValueError, match=re.escape(os.path.basename(case.path))):
                data.validate_image_files([*good[:2], case.path])


def test_stylize_paints_every_decodable_case_upright_and_refuses_a_folder_with_a_bad_file(corpus, tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    for case in corpus:
        if case.decodable and min(case.expected.shape[:2]) >= 8:  # the networks' 8 px floor
            shutil.copy(case.path, good / os.path.basename(case.path))
    output = tmp_path / "painted"
    result = helpers.run_module("tfstyle.fast.stylize", "--input", good, "--output", output)
    assert result.returncode == 0, result.stderr[-2000:]
    by_file = {os.path.basename(case.path): case for case in corpus}
    for name in os.listdir(good):
        painted = [f for f in os.listdir(output) if os.path.splitext(f)[0] == os.path.splitext(name)[0]]
        assert len(painted) == 1, (name, sorted(os.listdir(output)))
        assert images.read_image_uint8(output / painted[0]).shape == by_file[name].expected.shape

    truncated = next(case for case in corpus if case.name == "truncated_jpg")
    shutil.copy(truncated.path, good / "zz_truncated.jpg")
    refused = tmp_path / "refused"
    helpers.one_error_line(helpers.run_module("tfstyle.fast.stylize", "--input", good, "--output", refused),
                           "truncated or corrupt.*zz_truncated.jpg")
    assert not refused.exists()
    for name, pattern in (("huge_header_png", "too large"), ("one_pixel_png", "below the 8 px minimum")):
        case = next(case for case in corpus if case.name == name)
        helpers.one_error_line(helpers.run_module("tfstyle.fast.stylize", "--input", case.path, "--output",
                                                  tmp_path / "one.png"), pattern)
        assert not (tmp_path / "one.png").exists()


def test_the_served_models_graph_decoder_gives_the_readers_pictures(corpus):
    import tensorflow as tf

    for case in corpus:
        if not case.decodable or case.name.startswith("exif_orientation_") or case.name == "pages_tiff":
            continue  # TensorFlow's decoders know no EXIF orientation and no TIFF (the README says so)
        with open(case.path, "rb") as file:
            _check(case, images.decode_rgb_in_graph(tf.constant(file.read())).numpy())
