"""Tests for tfstyle.fast: the transformer, its config, training on the core, inference and the three CLIs."""

from __future__ import annotations

import dataclasses
import json
import os

import helpers
import keras
import numpy as np
import pytest
import tensorflow as tf

from tfstyle import distribute, images
from tfstyle.fast import config as config_lib
from tfstyle.fast import inference, models, task

STYLE = str(helpers.ASSETS / "vangogh_starry_night.jpg")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A folder of 5 crops of the bundled astronaut photo (40 px PNGs): the content set, no ../shared needed."""
    root = helpers.make_two_domain_set(tmp_path_factory.mktemp("photos"), count_a=5, count_b=1)
    return root / "A"


def _tiny(model_dir, photos, **overrides) -> config_lib.FastTrainConfig:
    return config_lib.tiny(style=STYLE, content_dir=str(photos), model_dir=str(model_dir), **overrides)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, photos):
    """A tiny run trained for 4 steps (two checkpoints), shared by the inference and CLI tests."""
    model_dir = tmp_path_factory.mktemp("run") / "tiny"
    result = task.train(_tiny(model_dir, photos), strategy=tf.distribute.OneDeviceStrategy("/cpu:0"))
    assert result.step == 4
    return model_dir


# ---------------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------------


def _expected_parameters(filters: int, blocks: int) -> int:
    """Johnson et al.'s table, counted by hand: conv (k k in + 1) out, affine instance norm 2 out."""
    def conv(kernel, channels_in, channels_out, norm=True):
        return (kernel * kernel * channels_in + 1) * channels_out + (2 * channels_out if norm else 0)

    f = filters
    total = conv(9, 3, f) + conv(3, f, 2 * f) + conv(3, 2 * f, 4 * f)
    total += blocks * 2 * conv(3, 4 * f, 4 * f)
    total += conv(3, 4 * f, 2 * f) + conv(3, 2 * f, f) + conv(9, f, 3, norm=False)
    return total


@pytest.mark.parametrize("filters, blocks", [(32, 5), (8, 1)])
def test_transformer_is_johnsons_network(filters, blocks):
    model = models.build_transformer(filters, blocks)
    assert model.count_params() == _expected_parameters(filters, blocks)
    kinds = {type(layer).__name__ for layer in model.layers}
    assert "Conv2DTranspose" not in kinds and "NearestUpsampling2D" in kinds  # resize-convolution, no checkerboard
    assert all(layer.padding == "valid" for layer in model.layers if isinstance(layer, keras.layers.Conv2D))


@pytest.mark.parametrize("height, width", [(8, 8), (20, 28), (64, 36)])
def test_transformer_keeps_the_size_and_outputs_unit_range_float32(height, width, rng):
    model = models.build_transformer(8, 1)
    output = model(rng.uniform(0, 1, (2, height, width, 3)).astype(np.float32))
    assert output.shape == (2, height, width, 3) and output.dtype == tf.float32
    assert float(tf.reduce_min(output)) >= 0.0 and float(tf.reduce_max(output)) <= 1.0


def test_nearest_upsampling_repeats_each_pixel_like_keras(rng):
    from tfstyle import layers

    x = rng.normal(size=(2, 3, 5, 4)).astype(np.float32)
    expected = keras.layers.UpSampling2D(2, interpolation="nearest")(x)
    np.testing.assert_array_equal(layers.NearestUpsampling2D()(x), expected)
    np.testing.assert_array_equal(np.asarray(expected)[:, ::2, ::2], x)


def test_transformer_under_bf16_still_returns_float32(rng):
    with distribute.dtype_policy("bf16"):
        model = models.build_transformer(8, 1)
    assert model.get_layer("c9s1_8_conv").compute_dtype == "bfloat16"
    assert model(rng.uniform(0, 1, (1, 16, 16, 3)).astype(np.float32)).dtype == tf.float32


# ---------------------------------------------------------------------------------------------
# Config
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("overrides, message", [
    ({"model_dir": ""}, "--model_dir is required"),
    ({"style": ""}, "--style is required"),
    ({"content_dir": None}, "give --content_dir"),
    ({"dataset": "coco/2017"}, "not both"),
    ({"image_size": 30}, "multiple of 4"),
    ({"load_size": 16}, "--load_size"),
    ({"style_weight": -1.0}, "--style_weight must be >= 0"),
    ({"pooling": "min"}, "--pooling must be one of max, avg"),
    ({"style_layers": ()}, "at least one layer"),
])
def test_config_refuses_bad_values_by_name(tmp_path, overrides, message):
    config = dataclasses.replace(_tiny(tmp_path / "run", tmp_path), **overrides)
    with pytest.raises(ValueError, match=message):
        config.validate()


def test_default_loss_layers_exist_in_the_backbone():
    from tfstyle import features

    defaults = config_lib.FastTrainConfig()
    layers = defaults.content_layers + defaults.style_layers
    model = features.build_feature_extractor(layers=layers, weights="random")
    assert list(model(np.zeros((1, 32, 32, 3), np.float32))) == list(dict.fromkeys(layers))


# ---------------------------------------------------------------------------------------------
# Training on the core
# ---------------------------------------------------------------------------------------------


def test_training_lowers_the_perceptual_loss(tmp_path, photos, real_vgg_weights):
    config = _tiny(tmp_path / "run", photos, weights=real_vgg_weights, steps=30, batch_size=2,
                   learning_rate=1e-2, checkpoint_every_steps=100, image_every_steps=100, log_every_steps=100)
    losses = []
    task.train(config, strategy=tf.distribute.OneDeviceStrategy("/cpu:0"),
               callback=lambda info: losses.append(info.losses["total"]))
    assert len(losses) == 30
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5]), losses


def test_resume_continues_the_same_run_exactly(tmp_path, photos):
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    whole = _tiny(tmp_path / "whole", photos)
    task.train(whole, strategy=strategy)
    split = _tiny(tmp_path / "split", photos)
    task.train(dataclasses.replace(split, max_steps=2), strategy=strategy)
    task.train(split, strategy=strategy)  # resumes at step 2: style targets rebuilt, data position restored
    a, _ = inference.load_transformer(tmp_path / "whole")
    b, _ = inference.load_transformer(tmp_path / "split")
    for left, right in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(left, right, rtol=1e-5, atol=1e-6)


def test_the_run_folder_names_its_task_and_logs_a_grid(trained_run):
    saved = json.loads((trained_run / "config.json").read_text())
    assert saved["task"] == "fast_style" and saved["filters"] == 8
    events = list((trained_run / "logs").rglob("events.out.tfevents.*"))
    tags = set()
    for path in events:
        for record in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            tags |= {value.tag for value in event.summary.value}
    assert {"loss/total", "loss/style", task.IMAGE_GRID} <= tags


def test_style_targets_are_the_style_images_grams(tmp_path, photos):
    from tfstyle import features, loss_targets

    config = _tiny(tmp_path, photos, style_scale=0.5, image_size=64)
    extractor = features.build_feature_extractor(layers=config.style_layers, weights="random")
    grams = task.style_grams(extractor, config)
    style = np.asarray(images.resize_long_side(images.load_image(STYLE), 32))[None]  # 0.5 x 64 px
    expected = loss_targets.blended_grams(extractor, [style], [1.0], config.style_layers)
    for layer in config.style_layers:
        np.testing.assert_allclose(grams[layer], expected[layer], rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# Inference
# ---------------------------------------------------------------------------------------------


def test_stylize_images_keeps_any_size_and_matches_the_network(trained_run):
    transformer, config = inference.load_transformer(trained_run)
    assert (config.filters, config.residual_blocks) == (8, 1)
    inputs = helpers.random_images([(13, 21), (16, 16), (13, 21)])
    outputs = inference.stylize_images(transformer, inputs, batch_size=2)
    assert [o.shape for o in outputs] == [(13, 21, 3), (16, 16, 3), (13, 21, 3)]
    # The 16 x 16 image needs no padding: the output is the network's own, rounded to uint8.
    expected = np.asarray(transformer(inputs[1][None].astype(np.float32) / 255.0))[0]
    np.testing.assert_array_equal(outputs[1], np.round(expected * 255.0).astype(np.uint8))


def test_float16_weights_file_round_trips(tmp_path, trained_run):
    transformer, _ = inference.load_transformer(trained_run)
    path = inference.save_weights(transformer, tmp_path / "weights.npz")
    copy = models.build_transformer(8, 1)
    inference.load_weights(copy, path)
    for original, loaded in zip(transformer.get_weights(), copy.get_weights(), strict=True):
        np.testing.assert_allclose(loaded, original, rtol=1e-3, atol=1e-4)  # float16: 11 significant bits
    with pytest.raises(ValueError, match="does not fit"):
        inference.load_weights(models.build_transformer(8, 2), path)


def test_a_cyclegan_run_is_refused(tmp_path):
    from tfstyle.cyclegan import config as cyclegan_config

    cyclegan_config.save_config(cyclegan_config.tiny(model_dir=str(tmp_path), domain_a="a", domain_b="b"))
    with pytest.raises(ValueError, match="holds a cyclegan run, not a fast_style run"):
        inference.load_transformer(tmp_path)


# ---------------------------------------------------------------------------------------------
# CLIs
# ---------------------------------------------------------------------------------------------


def test_train_cli_trains_then_resumes(tmp_path, photos):
    args = ["--style", STYLE, "--content_dir", str(photos), "--model_dir", str(tmp_path / "run"),
            "--image_size", "32", "--batch_size", "2", "--filters", "8", "--residual_blocks", "1",
            "--weights", "random", "--steps", "3", "--checkpoint_every_steps", "2"]
    first = helpers.run_module("tfstyle.fast.train", *args, "--max_steps", "2")
    assert first.returncode == 0, first.stderr[-3000:]
    second = helpers.run_module("tfstyle.fast.train", *args)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "ckpt-3" in second.stderr and "restored" in second.stderr.lower()


@pytest.mark.parametrize("args, pattern", [
    (["--content_dir", "{photos}", "--model_dir", "{tmp}/r"], "--style is required"),
    (["--style", "{tmp}/none.jpg", "--content_dir", "{photos}", "--model_dir", "{tmp}/r"], "no such file"),
    (["--style", STYLE, "--content_dir", "{tmp}/none", "--model_dir", "{tmp}/r"], "--content_dir does not exist"),
    (["--style", STYLE, "--content_dir", "{photos}", "--model_dir", "{tmp}/r", "--image_size", "30"],
     "multiple of 4"),
])
def test_train_cli_bad_input_gives_one_error_line_and_writes_nothing(tmp_path, photos, args, pattern):
    args = [arg.format(photos=photos, tmp=tmp_path) for arg in args]
    result = helpers.run_module("tfstyle.fast.train", *args)
    helpers.one_error_line(result, pattern)
    assert not (tmp_path / "r").exists()


def test_stylize_cli_writes_a_folder_at_the_inputs_sizes(tmp_path, trained_run, photos):
    result = helpers.run_module("tfstyle.fast.stylize", "--model_dir", trained_run, "--input", photos,
                                "--output", tmp_path / "out")
    assert result.returncode == 0, result.stderr[-3000:]
    for path in images.list_images(photos):
        written = images.read_image_uint8(tmp_path / "out" / os.path.basename(path))
        assert written.shape == images.read_image_uint8(path).shape


@pytest.mark.parametrize("case", ["cyclegan run", "empty folder", "bad input"])
def test_stylize_cli_bad_input_gives_one_error_line(tmp_path, trained_run, case):
    from tfstyle.cyclegan import config as cyclegan_config

    model_dir, source = trained_run, helpers.ASSETS / "astronaut.jpg"
    if case == "cyclegan run":
        model_dir = tmp_path / "cyclegan"
        cyclegan_config.save_config(cyclegan_config.tiny(model_dir=str(model_dir), domain_a="a", domain_b="b"))
    elif case == "empty folder":
        model_dir = tmp_path / "empty"
        model_dir.mkdir()
    else:
        source = tmp_path / "broken.jpg"
        source.write_bytes(b"not a jpeg")
    result = helpers.run_module("tfstyle.fast.stylize", "--model_dir", model_dir, "--input", source,
                                "--output", tmp_path / "out.png")
    helpers.one_error_line(result, {"cyclegan run": "cyclegan run", "empty folder": "config.json",
                                    "bad input": "broken.jpg"}[case])
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("format, runtime", [("litert", "ai_edge_litert"), ("onnx", "onnxruntime")])
def test_export_cli_files_give_the_networks_pixels_in_their_own_runtimes(tmp_path, trained_run, photos, format,
                                                                        runtime):
    pytest.importorskip(runtime)
    result = helpers.run_module("tfstyle.fast.export", "--model_dir", trained_run, "--export_dir",
                                tmp_path / format, "--format", format)
    assert result.returncode == 0, result.stderr[-3000:]
    path = result.stdout.strip().splitlines()[-1]
    assert path.endswith(os.path.join(format, "1", f"model.{'tflite' if format == 'litert' else 'onnx'}"))
    crops = [images.read_image_uint8(p)[:39 - 4 * i, :37] for i, p in enumerate(images.list_images(photos)[:2])]
    outputs, imported = helpers.run_in_runtime(runtime, path, crops, tmp_path)  # a fresh process, no TensorFlow
    assert imported == "neither"
    transformer, _ = inference.load_transformer(trained_run)
    assert helpers.level_differences(outputs, inference.stylize_images(transformer, crops)).max() <= helpers.MAX_LEVELS


def test_export_cli_serves_what_stylize_writes(tmp_path, trained_run):
    result = helpers.run_module("tfstyle.fast.export", "--model_dir", trained_run, "--export_dir",
                                tmp_path / "exported")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith(os.path.join("exported", "1"))
    served = tf.saved_model.load(str(tmp_path / "exported" / "1")).signatures["serving_default"]
    photo = helpers.random_images([(19, 26)], seed=4)[0]
    output = served(images=tf.constant(photo[None]))["images"].numpy()[0]
    transformer, _ = inference.load_transformer(trained_run)
    expected = inference.stylize_images(transformer, [photo])[0]
    assert np.abs(output.astype(int) - expected.astype(int)).max() <= 1
    again = helpers.run_module("tfstyle.fast.export", "--model_dir", trained_run, "--export_dir",
                               tmp_path / "exported", "--version", "1")
    helpers.one_error_line(again, "already exists")


# ---------------------------------------------------------------------------------------------
# The bundled model
# ---------------------------------------------------------------------------------------------


def test_the_bundled_model_is_float16_with_its_card_and_loads():
    folder = inference.BUNDLED_MODEL
    with np.load(os.path.join(folder, inference.WEIGHTS_FILE)) as stored:
        assert {stored[key].dtype for key in stored.files} == {np.dtype(np.float16)}
    card = json.loads(open(os.path.join(folder, "card.json"), encoding="utf-8").read())
    assert card["style"] == "tfstyle/assets/vangogh_starry_night.jpg" and card["steps"] > 0
    assert "python -m tfstyle.fast.train" in card["command"]
    assert os.path.isfile(os.path.join(folder, "MODEL_CARD.md"))
    transformer, config = inference.load_transformer()
    assert transformer.count_params() == card["parameters"]
    photo = images.read_image_uint8(helpers.ASSETS / "astronaut.jpg")[:61, :90]
    (output,) = inference.stylize_images(transformer, [photo])
    assert output.shape == photo.shape and output.dtype == np.uint8
    assert np.abs(output.astype(int) - photo.astype(int)).mean() > 10  # it changes the photo


def test_stylize_cli_with_no_arguments_writes_the_bundled_sample(tmp_path):
    result = helpers.run_module("tfstyle.fast.stylize", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "astronaut_starry_night.png"
    written = images.read_image_uint8(tmp_path / "astronaut_starry_night.png")
    assert written.shape == images.read_image_uint8(helpers.ASSETS / "astronaut.jpg").shape


def test_bf16_precision_gives_the_float32_pixels_within_a_few_levels():
    from tfstyle import distribute

    photo = images.read_image_uint8(helpers.ASSETS / "astronaut.jpg")[:96, :128]
    exact = inference.load_model(precision="float32")
    half = inference.load_model(precision="bf16")
    assert half.network.get_layer("u32_conv").compute_dtype == "bfloat16"
    assert exact.network.get_layer("u32_conv").compute_dtype == "float32"
    differences = np.abs(half.stylize([photo])[0].astype(int) - exact.stylize([photo])[0].astype(int))
    assert differences.mean() < 1.0 and np.percentile(differences, 99) <= 3
    assert inference.resolve_precision("auto")[0] == ("bf16" if distribute.fast_bf16()[0] else "float32")
    assert inference.resolve_precision("float32") == ("float32", "asked for")
    with pytest.raises(ValueError, match="--precision must be one of"):
        inference.resolve_precision("fp8")
