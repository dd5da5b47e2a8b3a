"""tfstyle.export and the export CLI: the SavedModel contract TF Serving relies on, LiteRT and ONNX files.

No TF Serving binary can run here, so the contract is proven piece by piece: a fresh Python
process that imports only TensorFlow loads the export and runs both signatures (odd sizes too)
against the Keras model; `saved_model_cli show --all` lists them; PredictRequests built with the
`tensorflow-serving-api` protos match the SignatureDefs stored in saved_model.pb (what the server
checks) and give the expected responses.

Every format is also run on real photos at their own odd sizes in a fresh process that imports only
its runtime (TensorFlow, `tf.lite`, `ai_edge_litert` or `onnxruntime`, never tfstyle) and compared
with `translate_uint8` on the Keras model: within 2 levels of 255 (measured: 0-1).
"""

import io
import os
import subprocess
import sys
import textwrap

import helpers
import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfstyle import export
from tfstyle.cyclegan import config as config_lib
from tfstyle.cyclegan import models
from tfstyle.training import rundir

MAX_LEVELS, RUNTIME_PACKAGES = helpers.MAX_LEVELS, helpers.RUNTIME_PACKAGES
level_differences, run_in_runtime = helpers.level_differences, helpers.run_in_runtime

SAVED_MODEL_CLI = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
reference_translate = helpers.reference_translate
ANY_SIZE = {"multiple": 1, "min_size": 1}  # the size rule of `small_model`: 'same' convolutions only


def encode(array: np.ndarray, image_format: str) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=image_format)
    return buffer.getvalue()


def small_model(name="small") -> keras.Model:
    """A 2-layer [-1, 1] -> [-1, 1] model: enough for versioning tests, cheap to trace."""
    inputs = keras.Input((None, None, 3), name="image")
    hidden = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    outputs = keras.layers.Conv2D(3, 3, padding="same", activation="tanh")(hidden)
    return keras.Model(inputs, outputs, name=name)


def assert_close_uint8(actual, expected):
    assert actual.shape == expected.shape and actual.dtype == np.uint8
    np.testing.assert_allclose(actual.astype(int), expected.astype(int), atol=1)


@pytest.fixture(scope="module")
def tiny_generator():
    """A tiny ResNet generator (ngf 8, 2 blocks), [-1, 1] -> [-1, 1]."""
    keras.utils.set_random_seed(0)
    return models.build_generator("resnet_2blocks", ngf=8, name_prefix="generator_ab")


@pytest.fixture(scope="module")
def exported(tiny_generator, tmp_path_factory):
    """(generator, version folder) of the tiny generator's SavedModel."""
    path = export.export_generator(tiny_generator, tmp_path_factory.mktemp("saved_models") / "tiny",
                                   multiple=models.SIZE_MULTIPLE, min_size=models.MIN_SIZE)
    return tiny_generator, path


@pytest.fixture(scope="module")
def batch():
    """uint8 [2, 37, 50, 3]: odd sizes, so padding and cropping are exercised."""
    return np.random.default_rng(0).integers(0, 256, (2, 37, 50, 3), dtype=np.uint8)


# --- the SavedModel -------------------------------------------------------------------------


def test_export_runs_in_a_fresh_process_that_imports_only_tensorflow(exported, batch, tmp_path):
    """TF2 loader and the session loader TF Serving uses, both signatures, odd sizes, vs the Keras model."""
    generator, path = exported
    assert os.path.basename(path) == "1"
    square = np.random.default_rng(1).integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)
    small = np.random.default_rng(2).integers(0, 256, (20, 33, 3), dtype=np.uint8)
    np.save(tmp_path / "batch.npy", batch)
    np.save(tmp_path / "square.npy", square)
    encoded = [encode(batch[0], "PNG"), encode(small, "PNG"), encode(batch[1], "JPEG")]
    for index, data in enumerate(encoded):
        (tmp_path / f"in{index}").write_bytes(data)

    script = textwrap.dedent("""
        import sys
        import numpy as np
        import tensorflow as tf
        path, work = sys.argv[1:]
        loaded = tf.saved_model.load(path)
        assert sorted(loaded.signatures) == ["serving_default", "translate_bytes"], list(loaded.signatures)
        serve, serve_bytes = loaded.signatures["serving_default"], loaded.signatures["translate_bytes"]
        assert list(serve.structured_outputs) == ["images"]
        assert list(serve_bytes.structured_outputs) == ["png_bytes"]
        for name in ("batch", "square"):
            images = tf.constant(np.load(f"{work}/{name}.npy"))
            np.save(f"{work}/{name}_out.npy", serve(images=images)["images"].numpy())
        encoded = [open(f"{work}/in{i}", "rb").read() for i in range(3)]
        png = serve_bytes(image_bytes=tf.constant(encoded))["png_bytes"].numpy()
        for i, data in enumerate(png):
            open(f"{work}/out{i}.png", "wb").write(data)
        # The JPEG: the bytes signature must equal serving_default on TensorFlow's own decode of it.
        decoded = tf.io.decode_jpeg(encoded[2], channels=3)[tf.newaxis]
        np.save(f"{work}/jpeg_direct.npy", serve(images=decoded)["images"].numpy()[0])
        # TF Serving loads with sessions (C++ SavedModelBundle): restore op + signature tensor names.
        with tf.compat.v1.Session(graph=tf.Graph()) as session:
            meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], path)
            signature = meta_graph.signature_def["serving_default"]
            feed = {signature.inputs["images"].name: np.load(f"{work}/batch.npy")}
            np.save(f"{work}/batch_session.npy", session.run(signature.outputs["images"].name, feed))
            signature = meta_graph.signature_def["translate_bytes"]
            feed = {signature.inputs["image_bytes"].name: encoded}
            assert list(session.run(signature.outputs["png_bytes"].name, feed)) == list(png)
        try:
            serve(images=tf.zeros([1, 5, 40, 3], tf.uint8))
        except tf.errors.InvalidArgumentError as error:
            assert ">= 8" in str(error)
            print("SMALL_REJECTED")
        print("IMPORTED_TFSTYLE" if any(m.startswith("tfstyle") for m in sys.modules) else "CLEAN")
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("PYTHONPATH", None)
    result = subprocess.run([sys.executable, "-c", script, path, str(tmp_path)], capture_output=True,
                            text=True, env=env, timeout=240, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "SMALL_REJECTED" in result.stdout and "CLEAN" in result.stdout

    batch_out = np.load(tmp_path / "batch_out.npy")
    assert batch_out.shape == batch.shape
    np.testing.assert_array_equal(np.load(tmp_path / "batch_session.npy"), batch_out)
    for image, output in zip(batch, batch_out, strict=True):
        expected = reference_translate(generator, image)
        assert expected.std() > 10  # outputs vary, so a wrong pad/crop would show
        assert_close_uint8(output, expected)
    assert_close_uint8(np.load(tmp_path / "square_out.npy")[0], reference_translate(generator, square[0]))

    for index, source in ((0, batch[0]), (1, small)):
        output = np.asarray(Image.open(tmp_path / f"out{index}.png"))
        assert_close_uint8(output, reference_translate(generator, source))
    jpeg_output = np.asarray(Image.open(tmp_path / "out2.png"))
    np.testing.assert_array_equal(jpeg_output, np.load(tmp_path / "jpeg_direct.npy"))
    assert jpeg_output.shape == (37, 50, 3)


def test_export_stores_each_weight_once(exported):
    generator, path = exported
    variables = os.path.join(path, "variables")
    data_bytes = sum(os.path.getsize(os.path.join(variables, name)) for name in os.listdir(variables)
                     if name.startswith("variables.data"))
    weight_bytes = 4 * generator.count_params()
    # keras.Model.export in Keras 3.15 stores about 2x (keras-team/keras#23553).
    assert weight_bytes <= data_bytes < 1.2 * weight_bytes + 4096


def test_saved_model_cli_lists_both_signatures(exported):
    _, path = exported
    result = subprocess.run([SAVED_MODEL_CLI, "show", "--dir", path, "--all"], capture_output=True, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    text = result.stdout
    serving = text[text.index("signature_def['serving_default']"):]
    serving = serving[:serving.index("signature_def['translate_bytes']")]
    uint8_spec = "tensor_info:\n        dtype: DT_UINT8\n        shape: (-1, -1, -1, 3)"
    assert f"inputs['images'] {uint8_spec}" in serving
    assert f"outputs['images'] {uint8_spec}" in serving
    assert "Method name is: tensorflow/serving/predict" in serving
    as_bytes = text[text.index("signature_def['translate_bytes']"):]
    assert "inputs['image_bytes'] tensor_info:\n        dtype: DT_STRING\n        shape: (-1)" in as_bytes
    assert "outputs['png_bytes'] tensor_info:\n        dtype: DT_STRING\n        shape: (-1)" in as_bytes


def _signature_defs(path):
    from tensorflow.core.protobuf import saved_model_pb2

    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as file:
        saved_model.ParseFromString(file.read())
    (meta_graph,) = saved_model.meta_graphs
    assert list(meta_graph.meta_info_def.tags) == ["serve"]
    return meta_graph.signature_def


def _check_request(request, signature_def) -> None:
    """What TF Serving checks before running: input keys, dtypes and shapes against the SignatureDef."""
    if set(request.inputs) != set(signature_def.inputs):
        raise ValueError(f"inputs {sorted(request.inputs)} != {sorted(signature_def.inputs)}")
    for key, tensor in request.inputs.items():
        info = signature_def.inputs[key]
        if tensor.dtype != info.dtype:
            raise ValueError(f"{key}: dtype {tensor.dtype} != {info.dtype}")
        dims = [dim.size for dim in tensor.tensor_shape.dim]
        spec = [dim.size for dim in info.tensor_shape.dim]
        if len(dims) != len(spec) or any(s not in (-1, d) for d, s in zip(dims, spec, strict=True)):
            raise ValueError(f"{key}: shape {dims} does not fit {spec}")


def test_predict_requests_fit_the_signatures_and_get_answers(exported, batch):
    predict_pb2 = pytest.importorskip("tensorflow_serving.apis.predict_pb2")
    pytest.importorskip("tensorflow_serving.apis.prediction_service_pb2_grpc")  # the gRPC stub imports too
    generator, path = exported
    signature_defs = _signature_defs(path)
    loaded = tf.saved_model.load(path)
    small = np.random.default_rng(2).integers(0, 256, (20, 33, 3), dtype=np.uint8)
    encoded = [encode(batch[0], "PNG"), encode(small, "PNG")]
    cases = {
        "serving_default": {"images": tf.make_tensor_proto(batch)},
        "translate_bytes": {"image_bytes": tf.make_tensor_proto(encoded)},
    }
    responses = {}
    for signature_name, inputs in cases.items():
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "tiny"
        request.model_spec.signature_name = signature_name
        for key, proto in inputs.items():
            request.inputs[key].CopyFrom(proto)
        request = predict_pb2.PredictRequest.FromString(request.SerializeToString())  # over the wire
        _check_request(request, signature_defs[request.model_spec.signature_name])
        # Run it as the server would: TensorProto -> tensor -> signature -> TensorProto.
        feeds = {key: tf.constant(tf.make_ndarray(proto)) for key, proto in request.inputs.items()}
        outputs = loaded.signatures[signature_name](**feeds)
        response = predict_pb2.PredictResponse()
        for key, value in outputs.items():
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value.numpy()))
        responses[signature_name] = predict_pb2.PredictResponse.FromString(response.SerializeToString())

    images_out = tf.make_ndarray(responses["serving_default"].outputs["images"])
    assert images_out.dtype == np.uint8 and images_out.shape == batch.shape
    assert_close_uint8(images_out[1], reference_translate(generator, batch[1]))
    png = responses["translate_bytes"].outputs["png_bytes"].string_val
    assert [np.asarray(Image.open(io.BytesIO(data))).shape for data in png] == [(37, 50, 3), (20, 33, 3)]

    # The check is not vacuous: wrong dtype, wrong key and wrong rank are refused.
    for signature_name, key, value in (("serving_default", "images", batch.astype(np.float32)),
                                       ("serving_default", "image", batch),
                                       ("translate_bytes", "image_bytes", [[b"x"]])):
        request = predict_pb2.PredictRequest()
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
        with pytest.raises(ValueError):
            _check_request(request, signature_defs[signature_name])


# --- versions and atomicity -----------------------------------------------------------------


def test_versions_count_up_and_are_never_overwritten(tmp_path):
    model = small_model()
    base = tmp_path / "small"
    assert os.path.basename(export.export_generator(model, base, **ANY_SIZE)) == "1"
    assert os.path.basename(export.export_generator(model, base, **ANY_SIZE)) == "2"
    assert os.path.basename(export.export_generator(model, base, version=7, **ANY_SIZE)) == "7"
    assert os.path.basename(export.export_generator(model, base, **ANY_SIZE)) == "8"
    (base / "notes").mkdir()  # non-integer folders are not versions
    assert export.existing_versions(base) == [1, 2, 7, 8]

    before = (base / "2" / "saved_model.pb").read_bytes()
    mtime = os.path.getmtime(base / "2" / "saved_model.pb")
    with pytest.raises(ValueError, match="version 2 already exists"):
        export.export_generator(small_model("other"), base, version=2, **ANY_SIZE)
    assert (base / "2" / "saved_model.pb").read_bytes() == before
    assert os.path.getmtime(base / "2" / "saved_model.pb") == mtime
    for bad in (0, -1, "3", 2.0, True):
        with pytest.raises(ValueError, match="positive integer"):
            export.export_generator(model, base, version=bad, **ANY_SIZE)
    assert sorted(os.listdir(base)) == ["1", "2", "7", "8", "notes"]  # nothing half-written
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        export.export_generator(model, tmp_path / "a_file", **ANY_SIZE)


class _FailsWhenSaved(keras.layers.Layer):
    """Fine on the fixed 8x8 input it is built with; raises when traced on unknown H, W (the export)."""

    def call(self, inputs):
        if inputs.shape[1] is None:
            raise RuntimeError("simulated failure while tracing the export")
        return inputs


def test_failed_export_leaves_nothing_behind(tmp_path):
    inputs = keras.Input((8, 8, 3))
    broken = keras.Model(inputs, _FailsWhenSaved()(inputs), name="broken")
    base = tmp_path / "models"
    export.export_generator(small_model(), base, **ANY_SIZE)
    with pytest.raises(RuntimeError, match="simulated failure"):
        export.export_generator(broken, base, **ANY_SIZE)
    assert sorted(os.listdir(base)) == ["1"]  # no "2", no hidden temp folder
    with pytest.raises(RuntimeError, match="simulated failure"):
        export.export_generator(broken, tmp_path / "fresh", **ANY_SIZE)
    assert not (tmp_path / "fresh").exists()  # the folder the failed export created is gone too


# --- CLI ------------------------------------------------------------------------------------


def run_export_cli(*args: str) -> subprocess.CompletedProcess:
    return helpers.run_module("tfstyle.cyclegan.export", *args, timeout=240)


def test_export_cli_reads_a_damaged_run_and_refuses_to_overwrite_a_version(tmp_path):
    """No `checkpoint` state file and a truncated newest checkpoint: the export holds ckpt-1's F (b2a)."""
    keras.utils.set_random_seed(0)
    model_dir = tmp_path / "run"
    config = config_lib.tiny(model_dir=str(model_dir))
    rundir.RunDir(model_dir).save_config(config, task="cyclegan")
    generator_ab = models.build_generator(config.generator, ngf=config.ngf, name_prefix="generator_ab")
    generator_ba = models.build_generator(config.generator, ngf=config.ngf, name_prefix="generator_ba")
    checkpoint = tf.train.Checkpoint(generator_ab=generator_ab, generator_ba=generator_ba)
    manager = tf.train.CheckpointManager(checkpoint, model_dir / "checkpoints", max_to_keep=2)
    manager.save()
    first_ba = generator_ba.get_weights()
    for variable in generator_ba.trainable_variables:
        variable.assign(variable + 0.01)
    manager.save()
    os.remove(model_dir / "checkpoints" / "checkpoint")
    with open(model_dir / "checkpoints" / "ckpt-2.data-00000-of-00001", "r+b") as file:
        file.truncate(100)
    export_dir = tmp_path / "saved_models" / "tiny"

    result = run_export_cli(f"--model_dir={model_dir}", "--direction=b2a", f"--export_dir={export_dir}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == str(export_dir / "1")
    assert "ckpt-2" in result.stderr  # the fallback is logged
    loaded = tf.saved_model.load(str(export_dir / "1"))
    image = np.random.default_rng(3).integers(0, 256, (1, 21, 30, 3), dtype=np.uint8)
    served = loaded.signatures["serving_default"](images=tf.constant(image))["images"].numpy()[0]
    newest_ba = reference_translate(generator_ba, image[0])
    generator_ba.set_weights(first_ba)
    expected = reference_translate(generator_ba, image[0])  # F of ckpt-1, not G and not the unreadable ckpt-2
    assert np.abs(expected.astype(int) - newest_ba.astype(int)).max() > 1
    assert_close_uint8(served, expected)

    helpers.one_error_line(run_export_cli(f"--model_dir={model_dir}", f"--export_dir={export_dir}",
                                          "--version=1"), "version 1 already exists")
    assert sorted(os.listdir(export_dir)) == ["1"]


def test_export_cli_without_a_checkpoint_gives_one_error_line(tmp_path):
    model_dir = tmp_path / "untrained"
    rundir.RunDir(model_dir).save_config(config_lib.tiny(model_dir=str(model_dir)), task="cyclegan")
    helpers.one_error_line(run_export_cli(f"--model_dir={model_dir}", f"--export_dir={tmp_path / 'out'}"),
                           "has no checkpoint.*tfstyle.cyclegan.train")
    assert not (tmp_path / "out").exists()
    missing = tmp_path / "nowhere"
    helpers.one_error_line(run_export_cli(f"--model_dir={missing}", f"--export_dir={tmp_path / 'o'}"),
                           "no such model_dir")


# --- LiteRT and ONNX: every format on real photos, each in its own runtime ------------------

# float16 weights (11-bit mantissa, ~5e-4 relative error each): measured max 1 level and a mean of
# 0.024 levels on these photos (0.079 for the full 11.4 M-parameter ResNet-9 generator, max 1 too).
# The bound keeps the float32 one for the max and allows 4x the measured mean.
FLOAT16_MEAN_LEVELS = 0.1

@pytest.fixture(scope="module")
def photos():
    """Real photos (../shared/data/content when present, else the bundled ones), each resized to its
    own odd size (35-47 x 51-63 px), so every one is padded and cropped differently."""
    content = helpers.SHARED_DATA / "content"
    paths = sorted(content.glob("*.jpg"))[:3] if content.is_dir() else []
    paths = paths or sorted(helpers.ASSETS.glob("*.jpg"))
    result = []
    for index, path in enumerate(paths):
        with Image.open(path) as opened:
            picture = opened.convert("RGB")
        long_side = 51 + 6 * index
        scale = long_side / max(picture.size)
        size = tuple(max(9, round(side * scale)) | 1 for side in picture.size)  # odd width and height
        result.append(np.asarray(picture.resize(size, Image.LANCZOS)))
    assert len(result) >= 2 and all(photo.shape[0] % 2 and photo.shape[1] % 2 for photo in result)
    return result


def keras_outputs(generator, photos, value_range="signed", multiple=models.SIZE_MULTIPLE, min_size=models.MIN_SIZE):
    return [export.translate_uint8(generator, photo[None], multiple, min_size, value_range).numpy()[0]
            for photo in photos]


@pytest.fixture(scope="module")
def exported_files(tiny_generator, tmp_path_factory):
    """{"litert", "litert_float16", "onnx", "savedmodel"}: paths of the tiny generator's exports."""
    pytest.importorskip("tf2onnx")
    base = tmp_path_factory.mktemp("formats")
    size_rule = {"multiple": models.SIZE_MULTIPLE, "min_size": models.MIN_SIZE}
    return {
        "savedmodel": export.export_model(tiny_generator, base / "savedmodel", **size_rule),
        "litert": export.export_model(tiny_generator, base / "litert", format="litert", **size_rule),
        "litert_float16": export.export_model(tiny_generator, base / "litert", format="litert", float16=True,
                                              **size_rule),
        "onnx": export.export_model(tiny_generator, base / "onnx", "onnx", **size_rule),
    }


@pytest.mark.parametrize("file, runtime", [("savedmodel", "tensorflow"), ("litert", "tf.lite"),
                                           ("litert", "ai_edge_litert"), ("onnx", "onnxruntime")])
def test_each_format_gives_the_keras_models_pixels_on_real_photos(exported_files, tiny_generator, photos,
                                                                  file, runtime, tmp_path):
    pytest.importorskip(RUNTIME_PACKAGES[runtime])
    path = exported_files[file]
    version_folder = os.path.dirname(path) if file != "savedmodel" else path
    assert os.path.basename(version_folder) == "1"
    if file != "savedmodel":
        assert os.listdir(version_folder) == [export.MODEL_FILES[file]]  # nothing else, no temp file
    outputs, imported = run_in_runtime(runtime, path, photos, tmp_path)
    expected = keras_outputs(tiny_generator, photos)
    assert min(image.std() for image in expected) > 10  # outputs vary, so a wrong pad/crop would show
    assert level_differences(outputs, expected).max() <= MAX_LEVELS
    if runtime in ("ai_edge_litert", "onnxruntime"):
        assert imported == "neither"  # the client needs neither TensorFlow nor tfstyle
    else:
        assert imported == "tensorflow"
    if runtime == "onnxruntime":  # batch of two: the same pixels as one by one
        pair = np.load(tmp_path / "pair.npy")
        assert level_differences(list(pair), [expected[0], keras_outputs(tiny_generator, [photos[0][::-1]])[0]]
                                 ).max() <= MAX_LEVELS


def test_litert_float16_halves_the_weights_within_a_measured_tolerance(exported_files, tiny_generator, photos,
                                                                         tmp_path):
    pytest.importorskip("ai_edge_litert")
    float16, float32 = exported_files["litert_float16"], exported_files["litert"]
    assert float16.endswith(os.path.join("litert", "2", "model.tflite"))  # the next version of that export_dir
    # float16 weights: 2 of the 4 bytes per parameter saved (plus the graph, the same in both)
    weight_bytes = 4 * tiny_generator.count_params()
    assert os.path.getsize(float32) - os.path.getsize(float16) > 0.4 * weight_bytes
    outputs16, _ = run_in_runtime("ai_edge_litert", float16, photos, tmp_path)
    outputs32, _ = run_in_runtime("ai_edge_litert", float32, photos, tmp_path)
    expected = keras_outputs(tiny_generator, photos)
    differences = level_differences(outputs16, expected)
    assert differences.max() <= MAX_LEVELS and differences.mean() <= FLOAT16_MEAN_LEVELS
    # float16 weights are in effect: some pixels differ from the float32 file's
    assert level_differences(outputs16, outputs32).max() >= 1


def unit_range_model() -> keras.Model:
    """A [0, 1] -> [0, 1] model (sigmoid out) that keeps any size, like a feed-forward style network."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((None, None, 3))
    hidden = keras.layers.Conv2D(6, 3, padding="same", activation="relu")(inputs)
    outputs = keras.layers.Conv2D(3, 3, padding="same", activation="sigmoid")(hidden)
    return keras.Model(inputs, outputs, name="unit_model")


def test_unit_value_range_feeds_the_model_0_1_in_every_format(photos, tmp_path):
    pytest.importorskip("tf2onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    model = unit_range_model()
    photo = photos[0]
    # numpy reference: [0, 1] in, the model, [0, 1] out (no [-1, 1] anywhere)
    expected = np.round(np.clip(np.asarray(model(photo[None] / np.float32(255.0)))[0], 0, 1) * 255).astype(np.uint8)
    unit = export.translate_uint8(model, photo[None], 1, 1, value_range="unit").numpy()[0]
    signed = export.translate_uint8(model, photo[None], 1, 1, value_range="signed").numpy()[0]
    assert level_differences([unit], [expected]).max() <= 1
    assert level_differences([signed], [expected]).mean() > 10  # the range is not ignored

    rule = {"multiple": 1, "min_size": 1, "value_range": "unit"}
    litert = export.export_model(model, tmp_path / "litert", "litert", **rule)
    interpreter = tf.lite.Interpreter(model_path=litert)
    served = {
        "savedmodel": tf.saved_model.load(export.export_model(model, tmp_path / "sm", **rule)).signatures[
            "serving_default"](images=tf.constant(photo[None]))["images"].numpy()[0],
        "litert": interpreter.get_signature_runner()(images=photo[None])["images"][0],
        "onnx": onnxruntime.InferenceSession(export.export_model(model, tmp_path / "onnx", "onnx", **rule)).run(
            ["translated"], {"images": photo[None]})[0][0],
    }
    for name, output in served.items():
        assert level_differences([output], [unit]).max() <= MAX_LEVELS, name
    with pytest.raises(ValueError, match="value_range must be one of"):
        export.export_model(model, tmp_path / "bad", "litert", multiple=1, min_size=1, value_range="imagenet")
    assert not (tmp_path / "bad").exists()


# --- the CLI's formats and its refusals -----------------------------------------------------


def run_export_cli_without(blocked: str, *args: str) -> subprocess.CompletedProcess:
    """The export CLI in a process where `import <blocked>` fails as if it were not installed."""
    script = ("import runpy, sys\n"
              f"sys.modules[{blocked!r}] = None  # import raises ImportError, as for a missing package\n"
              "sys.argv = ['tfstyle.cyclegan.export', *sys.argv[1:]]\n"
              "runpy.run_module('tfstyle.cyclegan.export', run_name='__main__', alter_sys=True)\n")
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=240,
                          cwd=helpers.REPO, env=helpers.env(), check=False)


def test_export_cli_names_the_extra_when_a_converter_is_missing(tmp_path):
    export_dir = tmp_path / "onnx"
    for blocked in ("tf2onnx", "onnx"):
        # No such model_dir either: the missing package is reported first, before anything is loaded.
        line = helpers.one_error_line(run_export_cli_without(
            blocked, f"--model_dir={tmp_path / 'run'}", f"--export_dir={export_dir}", "--format=onnx"),
            rf"exporting to onnx needs the {blocked} package")
        assert 'pip install "tfstyle[export]"' in line
    assert not export_dir.exists()


def test_export_cli_refuses_float16_outside_litert_and_an_existing_version(tmp_path):
    for export_format in ("savedmodel", "onnx"):
        helpers.one_error_line(run_export_cli(f"--model_dir={tmp_path / 'run'}", f"--export_dir={tmp_path / 'x'}",
                                              f"--format={export_format}", "--float16"),
                               f"float16 .* needs format litert, got {export_format}")
    existing = tmp_path / "litert" / "1" / "model.tflite"
    existing.parent.mkdir(parents=True)
    existing.write_bytes(b"the first export")
    helpers.one_error_line(run_export_cli(f"--model_dir={tmp_path / 'run'}", f"--export_dir={tmp_path / 'litert'}",
                                          "--format=litert", "--version=1"), "version 1 already exists")
    assert existing.read_bytes() == b"the first export"
    assert not (tmp_path / "x").exists()
    with pytest.raises(ValueError, match="version 1 already exists"):
        export.export_model(small_model(), tmp_path / "litert", "litert", 1, **ANY_SIZE)
    assert existing.read_bytes() == b"the first export" and os.listdir(existing.parent) == ["model.tflite"]


def test_export_cli_writes_an_onnx_file_of_the_runs_generator(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    keras.utils.set_random_seed(0)
    model_dir = tmp_path / "run"
    config = config_lib.tiny(model_dir=str(model_dir))
    rundir.RunDir(model_dir).save_config(config, task="cyclegan")
    generator_ab = models.build_generator(config.generator, ngf=config.ngf, name_prefix="generator_ab")
    tf.train.CheckpointManager(tf.train.Checkpoint(generator_ab=generator_ab), model_dir / "checkpoints",
                               max_to_keep=1).save()
    export_dir = tmp_path / "saved_models" / "tiny_onnx"
    result = run_export_cli(f"--model_dir={model_dir}", f"--export_dir={export_dir}", "--format=onnx")
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == str(export_dir / "1" / "model.onnx")
    image = np.random.default_rng(4).integers(0, 256, (1, 21, 30, 3), dtype=np.uint8)
    session = onnxruntime.InferenceSession(str(export_dir / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    output = session.run(["translated"], {"images": image})[0][0]
    assert level_differences([output], [reference_translate(generator_ab, image[0])]).max() <= MAX_LEVELS


def test_failed_litert_and_onnx_exports_leave_nothing_behind(tmp_path):
    pytest.importorskip("tf2onnx")
    inputs = keras.Input((8, 8, 3))
    broken = keras.Model(inputs, _FailsWhenSaved()(inputs), name="broken")
    for export_format in ("litert", "onnx"):
        with pytest.raises(RuntimeError, match="simulated failure"):
            export.export_model(broken, tmp_path / export_format, export_format, **ANY_SIZE)
    assert os.listdir(tmp_path) == []
