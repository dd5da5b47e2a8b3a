"""Tests for the arbitrary-style (AdaIN) network of tfstyle.fast: its pieces, training on the core, the stylizer
with alpha and blends, colour preservation, and the train / stylize / export CLIs with style inputs."""

from __future__ import annotations

import json
import os

import helpers
import numpy as np
import pytest
import tensorflow as tf

from tfstyle import export, images, layers, losses
from tfstyle.fast import config as config_lib
from tfstyle.fast import inference, models, task


@pytest.fixture(scope="module")
def domains(tmp_path_factory):
    """5 astronaut crops (photos, A) and 3 Starry Night crops (paintings, B), 40 px: no ../shared needed."""
    return helpers.make_two_domain_set(tmp_path_factory.mktemp("sets"), count_a=5, count_b=3)


def _tiny(model_dir, domains, **overrides) -> config_lib.FastTrainConfig:
    return config_lib.tiny(arbitrary=True, style_dir=str(domains / "B"), content_dir=str(domains / "A"),
                           model_dir=str(model_dir), **overrides)


@pytest.fixture(scope="module")
def adain_run(tmp_path_factory, domains):
    """A tiny AdaIN run (width-4 decoder, random VGG) trained for 4 steps."""
    model_dir = tmp_path_factory.mktemp("adain") / "tiny"
    result = task.train(_tiny(model_dir, domains), strategy=tf.distribute.OneDeviceStrategy("/cpu:0"))
    assert result.step == 4
    return model_dir


@pytest.fixture(scope="module")
def adain_model(adain_run):
    return inference.load_model(adain_run)


def _paintings(count=2, seed=7):
    return helpers.random_images([(24 + 8 * i, 40 - 4 * i) for i in range(count)], seed=seed)


# ---------------------------------------------------------------------------------------------
# The pieces: AdaIN, the style loss, the decoder
# ---------------------------------------------------------------------------------------------


def test_adain_gives_the_content_the_style_statistics_and_alpha_mixes_linearly(rng):
    content = tf.constant(rng.normal(2.0, 3.0, (2, 5, 6, 4)), tf.float32)
    mean = tf.constant(rng.normal(0.0, 1.0, (1, 4)), tf.float32)
    std = tf.constant(rng.uniform(0.5, 2.0, (1, 4)), tf.float32)
    full = layers.adaptive_instance_norm(content, mean, std)
    np.testing.assert_allclose(losses.feature_mean(full), np.repeat(mean, 2, 0), atol=1e-5)
    np.testing.assert_allclose(losses.feature_std(full, eps=0.0), np.repeat(std, 2, 0), rtol=1e-3)
    np.testing.assert_allclose(layers.adaptive_instance_norm(content, mean, std, alpha=0.0), content, atol=1e-6)
    half = layers.adaptive_instance_norm(content, mean, std, alpha=0.5)
    np.testing.assert_allclose(half, 0.5 * full + 0.5 * content, atol=1e-5)


def test_mean_std_style_loss_is_huangs_moment_distance(rng):
    features = tf.constant(rng.normal(1.0, 2.0, (2, 6, 7, 3)), tf.float32)
    mean, std = losses.feature_mean(features), losses.feature_std(features)
    assert float(losses.mean_std_style_loss(features, mean, std)) == pytest.approx(0.0, abs=1e-10)
    shifted = losses.mean_std_style_loss(features, mean + 1.0, std * 2.0)
    expected = np.mean(1.0 + np.mean(np.square(std.numpy()), axis=-1))  # (1 / C) ||1||^2 + (1 / C) ||sigma||^2
    assert float(shifted) == pytest.approx(expected, rel=1e-5)


def _decoder_parameters(width: int, channels: int = 512) -> int:
    """Huang et al.'s decoder counted by hand: nine 3x3 convs (k k in + 1) out, no normalisation."""
    w = width
    pairs = [(channels, 4 * w), (4 * w, 4 * w), (4 * w, 4 * w), (4 * w, 4 * w), (4 * w, 2 * w), (2 * w, 2 * w),
             (2 * w, w), (w, w), (w, 3)]
    return sum((9 * c_in + 1) * c_out for c_in, c_out in pairs)


@pytest.mark.parametrize("width", [64, 4])
def test_decoder_mirrors_the_encoder_and_upsamples_eight_times(width, rng):
    decoder = models.build_decoder(width)
    assert decoder.count_params() == _decoder_parameters(width)
    output = decoder(rng.normal(size=(2, 3, 5, 512)).astype(np.float32))
    assert output.shape == (2, 24, 40, 3) and output.dtype == tf.float32
    assert 0.0 <= float(tf.reduce_min(output)) and float(tf.reduce_max(output)) <= 1.0


# ---------------------------------------------------------------------------------------------
# Config and training
# ---------------------------------------------------------------------------------------------


def test_the_mode_sets_the_defaults_left_at_none():
    per_style = config_lib.FastTrainConfig(style="s.jpg", content_dir="c", model_dir="m").validate()
    arbitrary = config_lib.FastTrainConfig(arbitrary=True, style_dir="s", content_dir="c", model_dir="m").validate()
    assert (per_style.style_weight, per_style.tv_weight, per_style.learning_rate) == (2e-4, 1e4, 1e-3)
    assert per_style.style_layers == config_lib.STYLE_LAYERS
    assert (arbitrary.style_weight, arbitrary.tv_weight, arbitrary.learning_rate) == (10.0, 0.0, 1e-4)
    assert arbitrary.style_layers == ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1")
    assert arbitrary.content_layers == (models.ENCODER_LAYER,)
    assert config_lib.FastTrainConfig(arbitrary=True, style_dir="s", content_dir="c", model_dir="m",
                                      style_weight=3.0).style_weight == 3.0


@pytest.mark.parametrize("overrides, message", [
    ({"style": "x.jpg"}, "give --style_dir instead"),
    ({"style_dir": None}, "--arbitrary needs --style_dir"),
    ({"arbitrary": False, "style": "x.jpg"}, "--style_dir is for --arbitrary"),
    ({"image_size": 36, "load_size": 40}, "multiple of 8"),
    ({"content_layers": ("block2_conv2",)}, "leave --content_layers out"),
    ({"decoder_width": 0}, "--decoder_width must be >= 1"),
])
def test_arbitrary_config_refuses_bad_values_by_name(tmp_path, domains, overrides, message):
    values = dict(arbitrary=True, style_dir=str(domains / "B"), content_dir=str(domains / "A"),
                  model_dir=str(tmp_path / "r"))
    values.update(overrides)
    with pytest.raises(ValueError, match=message):
        config_lib.FastTrainConfig(**values).validate()


def test_training_lowers_the_adain_loss(tmp_path, domains, real_vgg_weights):
    config = _tiny(tmp_path / "run", domains, weights=real_vgg_weights, steps=30, decoder_width=8,
                   learning_rate=2e-3, checkpoint_every_steps=100, image_every_steps=100, log_every_steps=100)
    losses_seen = []
    task.train(config, strategy=tf.distribute.OneDeviceStrategy("/cpu:0"),
               callback=lambda info: losses_seen.append(info.losses["total"]))
    assert len(losses_seen) == 30
    assert np.mean(losses_seen[-5:]) < 0.5 * np.mean(losses_seen[:5]), losses_seen


def test_the_run_saves_the_decoder_and_logs_photo_painting_result_rows(adain_run):
    saved = json.loads((adain_run / "config.json").read_text())
    assert saved["task"] == "fast_style" and saved["arbitrary"] is True and saved["style_weight"] == 10.0
    from tensorflow.core.protobuf import trackable_object_graph_pb2

    reader = tf.train.load_checkpoint(str(adain_run / "checkpoints"))
    graph = trackable_object_graph_pb2.TrackableObjectGraph.FromString(
        reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    keys = {child.local_name for child in graph.nodes[0].children}  # the checkpoint's top-level objects
    assert task.DECODER_KEY in keys and task.MODEL_KEY not in keys
    grids = []
    for path in (adain_run / "logs").rglob("events.out.tfevents.*"):
        for record in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            grids += [value for value in event.summary.value if value.tag == task.IMAGE_GRID]
    assert grids
    grid = tf.io.decode_image(grids[0].tensor.string_val[2] if grids[0].HasField("tensor")
                              else grids[0].image.encoded_image_string)
    assert grid.shape[0] == 3 * 32  # photos, paintings, results


# ---------------------------------------------------------------------------------------------
# The stylizer: alpha, blends, the fixed-style network, refusals
# ---------------------------------------------------------------------------------------------


def _run(network, photo, multiple=models.ARBITRARY_SIZE_MULTIPLE):
    from tfstyle import inference as image_inference

    return image_inference.Translator(network, value_range=models.VALUE_RANGE, multiple=multiple)([photo])[0]


def test_alpha_zero_ignores_the_style_and_alpha_one_follows_it(adain_model):
    photo = helpers.random_images([(21, 30)], seed=3)[0]
    first, second = _paintings()
    assert adain_model.multiple == 8
    at_zero = [_run(adain_model.stylizer([style], alpha=0.0), photo) for style in (first, second)]
    np.testing.assert_array_equal(at_zero[0], at_zero[1])
    at_one = [_run(adain_model.stylizer([style], alpha=1.0), photo) for style in (first, second)]
    assert np.abs(at_one[0].astype(int) - at_one[1].astype(int)).max() > 0
    assert at_one[0].shape == photo.shape


def test_a_blend_is_the_weighted_sum_of_the_statistics(adain_model):
    first, second = _paintings()
    mean_a, std_a = adain_model.style_statistics([first])
    mean_b, std_b = adain_model.style_statistics([second])
    mean, std = adain_model.style_statistics([first, second], [3.0, 1.0])
    np.testing.assert_allclose(mean, 0.75 * mean_a + 0.25 * mean_b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(std, 0.75 * std_a + 0.25 * std_b, rtol=1e-5, atol=1e-6)
    only_first = adain_model.style_statistics([first, second], [1.0, 0.0])
    np.testing.assert_allclose(only_first[0], mean_a, rtol=1e-5, atol=1e-6)


def test_the_fixed_style_network_gives_the_three_input_networks_pixels(adain_model):
    photo = helpers.random_images([(19, 27)], seed=5)[0]
    painting = _paintings(1)[0]
    fixed = _run(adain_model.stylizer([painting], alpha=0.6, style_size=None), photo)
    conditions = export.style_conditions(painting[None], 0.6, models.VALUE_RANGE)
    three_inputs = export.translate_uint8(adain_model.network, photo[None], 8, 8, models.VALUE_RANGE, conditions)
    assert np.abs(fixed.astype(int) - three_inputs.numpy()[0].astype(int)).max() <= 1


def test_refusals_name_the_problem(adain_model):
    per_style = inference.load_model()  # the bundled Starry Night network
    with pytest.raises(ValueError, match="per-style network .* takes no --style"):
        per_style.stylizer([_paintings(1)[0]])
    with pytest.raises(ValueError, match="--alpha needs an arbitrary-style model"):
        per_style.stylizer(alpha=0.5)
    with pytest.raises(ValueError, match="at least one --style"):
        adain_model.stylizer([])
    with pytest.raises(ValueError, match=r"--alpha must be in \[0, 1\]"):
        adain_model.stylizer(_paintings(1), alpha=1.2)
    with pytest.raises(ValueError, match="2 weights but --style has 1"):
        adain_model.stylizer(_paintings(1), blend=[1.0, 2.0])
    with pytest.raises(ValueError, match="arbitrary-style model; load it with load_model"):
        inference.load_transformer(adain_model.folder)


def test_preserve_colors_keeps_the_photos_chroma_or_colour_statistics(rng):
    photo = images.read_image_uint8(helpers.ASSETS / "astronaut.jpg")[:48, :64]
    stylised = images.read_image_uint8(helpers.ASSETS / "vangogh_starry_night.jpg")[:48, :64]
    luminance = inference.preserve_colors_of(stylised, photo, "luminance")
    yiq = lambda image: images.rgb_to_yiq(images.to_float(image)).numpy()  # noqa: E731
    assert np.abs(yiq(luminance)[..., 1:] - yiq(photo)[..., 1:]).mean() < 0.02  # the photo's chroma
    assert np.abs(yiq(luminance)[..., 0] - yiq(stylised)[..., 0]).mean() < 0.02  # the result's luma
    histogram = inference.preserve_colors_of(stylised, photo, "histogram").reshape(-1, 3) / 255.0
    np.testing.assert_allclose(histogram.mean(0), (photo.reshape(-1, 3) / 255.0).mean(0), atol=0.03)
    np.testing.assert_array_equal(inference.preserve_colors_of(stylised, photo, "none"), stylised)
    with pytest.raises(ValueError, match="--preserve_colors must be one of"):
        inference.preserve_colors_of(stylised, photo, "sepia")


# ---------------------------------------------------------------------------------------------
# CLIs
# ---------------------------------------------------------------------------------------------


def test_train_cli_trains_an_arbitrary_network(tmp_path, domains):
    result = helpers.run_module(
        "tfstyle.fast.train", "--arbitrary", "--style_dir", domains / "B", "--content_dir", domains / "A",
        "--model_dir", tmp_path / "run", "--image_size", "32", "--batch_size", "2", "--decoder_width", "4",
        "--weights", "random", "--steps", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "run" / "checkpoints").is_dir()
    bad = helpers.run_module("tfstyle.fast.train", "--arbitrary", "--style", domains / "B" / "0.png",
                             "--content_dir", domains / "A", "--model_dir", tmp_path / "bad")
    helpers.one_error_line(bad, "give --style_dir instead")
    assert not (tmp_path / "bad").exists()


def test_stylize_cli_with_styles_blend_alpha_and_colours(tmp_path, adain_run, domains):
    paintings = images.list_images(domains / "B")[:2]
    photo = helpers.ASSETS / "astronaut.jpg"
    result = helpers.run_module("tfstyle.fast.stylize", "--model_dir", adain_run, "--input", photo,
                                "--style", ",".join(paintings), "--style_blend", "2,1", "--alpha", "0.7",
                                "--preserve_colors", "histogram", "--output", tmp_path / "out.png")
    assert result.returncode == 0, result.stderr[-3000:]
    assert images.read_image_uint8(tmp_path / "out.png").shape == images.read_image_uint8(photo).shape


@pytest.mark.parametrize("case, pattern", [
    ("alpha", r"--alpha must be in \[0, 1\]"),
    ("blend", "2 weights but --style has 1"),
    ("no style", "give it at least one --style"),
    ("per-style", "takes no --style"),
    ("missing style", "no such file"),
    ("unwritable", "output"),
])
def test_stylize_cli_style_errors_give_one_error_line(tmp_path, adain_run, domains, case, pattern):
    painting = images.list_images(domains / "B")[0]
    args = {"alpha": ["--style", painting, "--alpha", "1.5"],
            "blend": ["--style", painting, "--style_blend", "1,2"],
            "no style": [],
            "per-style": ["--style", painting],
            "missing style": ["--style", tmp_path / "none.jpg"],
            "unwritable": ["--style", painting]}[case]
    output = tmp_path / ("no_such_folder/out.png" if case == "unwritable" else "out.png")
    model = ["--model_dir", inference.BUNDLED_MODEL if case == "per-style" else adain_run]
    result = helpers.run_module("tfstyle.fast.stylize", *model, "--input", helpers.ASSETS / "astronaut.jpg",
                                *args, "--output", output)
    helpers.one_error_line(result, pattern)
    assert not output.exists()


def test_export_cli_serves_content_style_and_alpha(tmp_path, adain_run, adain_model):
    result = helpers.run_module("tfstyle.fast.export", "--model_dir", adain_run, "--export_dir", tmp_path / "sm")
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = tf.saved_model.load(result.stdout.strip().splitlines()[-1])
    photo = helpers.random_images([(23, 34)], seed=9)[0]
    painting = _paintings(1)[0]
    served = loaded.signatures["serving_default"](images=tf.constant(photo[None]), style=tf.constant(painting[None]),
                                                  alpha=tf.constant(0.5))["images"].numpy()[0]
    expected = _run(adain_model.stylizer([painting], alpha=0.5, style_size=None), photo)
    assert np.abs(served.astype(int) - expected.astype(int)).max() <= 1
    encoded = loaded.signatures["translate_bytes"](
        image_bytes=tf.constant([images.encode_image(photo, "p.png")]),
        style_bytes=tf.constant(images.encode_image(painting, "s.png")), alpha=tf.constant(0.5))["png_bytes"]
    np.testing.assert_array_equal(tf.io.decode_png(encoded[0]).numpy(), served)


@pytest.mark.parametrize("format, runtime", [("litert", "ai_edge_litert"), ("onnx", "onnxruntime")])
def test_export_cli_arbitrary_files_run_in_their_own_runtimes(tmp_path, adain_run, adain_model, domains, format,
                                                              runtime):
    pytest.importorskip(runtime)
    result = helpers.run_module("tfstyle.fast.export", "--model_dir", adain_run, "--export_dir",
                                tmp_path / format, "--format", format)
    assert result.returncode == 0, result.stderr[-3000:]
    path = result.stdout.strip().splitlines()[-1]
    # Real pictures: crops of the photo and of the painting, at sizes that need padding.
    photos = [images.read_image_uint8(p)[:37 - 5 * i, :35] for i, p in enumerate(images.list_images(domains / "A")[:2])]
    painting = images.read_image_uint8(images.list_images(domains / "B")[0])[:33, :29]
    outputs, imported = helpers.run_in_runtime(runtime, path, photos, tmp_path, style=painting, alpha=0.8)
    assert imported == "neither"
    network = adain_model.stylizer([painting], alpha=0.8, style_size=None)
    expected = [_run(network, photo) for photo in photos]
    assert helpers.level_differences(outputs, expected).max() <= helpers.MAX_LEVELS
    assert os.path.getsize(path) > 0


def test_the_library_stylize_reuses_one_network_across_styles_and_alphas(adain_model):
    photos = helpers.random_images([(21, 30), (16, 16)], seed=2)
    first, second = _paintings()
    before = adain_model.stylize(photos, [first], alpha=0.5, preserve_colors="luminance")
    translators = dict(adain_model._translators)
    other = adain_model.stylize(photos, [second], alpha=0.5, preserve_colors="luminance")
    again = adain_model.stylize(photos, [first], alpha=0.5, preserve_colors="luminance")
    assert adain_model._translators == translators  # a new style or alpha is a weight update, not a new network
    assert [image.shape for image in before] == [photo.shape for photo in photos]
    assert np.abs(before[0].astype(int) - other[0].astype(int)).max() > 0
    for left, right in zip(before, again, strict=True):
        np.testing.assert_array_equal(left, right)


def test_default_output_names_the_paintings_of_an_arbitrary_model():
    from tfstyle.fast import stylize

    assert stylize.default_output("photos/cat.jpg", "") == "cat_starry_night.png"
    assert stylize.default_output("cat.jpg", "runs/adain", ("a/wave.jpg", "b/lion.png")) == "cat_wave_lion.png"
    assert stylize.resolve_model_dir("runs/x", ("wave.jpg",)) == "runs/x"
    assert stylize.resolve_model_dir("", ("wave.jpg",)) == inference.MAGENTA == stylize.MAGENTA
    assert stylize.resolve_model_dir("", ()) == ""

