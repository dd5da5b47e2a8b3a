"""Export of an image-to-image model in three formats: SavedModel (TF Serving), LiteRT and ONNX.

`export_model(model, "saved_models/horse2zebra", format="savedmodel", multiple=4, min_size=8)` writes
version `N` (one more than the largest existing one, or the `version` asked for; never overwritten):

* `format="savedmodel"`: the folder `saved_models/horse2zebra/<N>/`, the layout TF Serving watches
  (`--model_base_path=saved_models/horse2zebra` serves the largest version), with two signatures,
  both taking images of any height and width:

  - `serving_default`: `images` uint8 [B, H, W, 3] in [0, 255] -> `images` uint8 [B, H, W, 3];
  - `translate_bytes`: `image_bytes` string [B] (encoded PNG/JPEG/BMP/GIF, one image each, any
    sizes) -> `png_bytes` string [B] (PNG). TF Serving's REST API base64-encodes outputs whose name
    ends in `_bytes`, so JSON clients get `{"b64": ...}` back.

* `format="litert"`: the file `<export_dir>/<N>/model.tflite` (`tf.lite.TFLiteConverter`, builtin
  ops only), one signature `serving_default`: `images` uint8 [1, H, W, 3] -> `images` uint8
  [1, H, W, 3]. H and W are dynamic: the file is stored for 1 x 1 images, so call
  `interpreter.resize_tensor_input(input_index, [1, H, W, 3])` and `allocate_tensors()` before each
  new size (or use `interpreter.get_signature_runner()`, which resizes by itself). Runs in
  `tf.lite.Interpreter` and in `ai_edge_litert.interpreter.Interpreter`. `float16=True` stores the
  weights in float16 (half the weight bytes; measured within 1 level of 255 of the float32 file).

* `format="onnx"`: the file `<export_dir>/<N>/model.onnx` (tf2onnx, opset `ONNX_OPSET`): input
  `images` uint8 [B, H, W, 3] -> output `translated` uint8 [B, H, W, 3] (ONNX tensor names are
  unique, so the output cannot be called `images` too), B, H and W dynamic (B >= 1). Runs in
  `onnxruntime.InferenceSession`.

Arbitrary-style models (three inputs: `tfstyle.fast.models.build_arbitrary`'s image, style and alpha) are
exported with two more inputs in every format: `style` uint8 [1, H', W', 3] (the painting, any size >= 8 px;
send it at the size whose brush strokes you want: the `stylize` command uses a 512 px long side) and
`alpha` float32 [] in [0, 1] (the strength); the bytes signature takes `style_bytes` string [] (one encoded
painting for the batch) and `alpha`.

All three run the same graph function, `translate_uint8`: reflect-pad to the model's size
`multiple`, uint8 -> [0, 1] -> the model's `value_range` -> model -> [0, 1] -> uint8 (range changes
by `tfstyle.images`), crop back. So a client never sees the model's range, and every format gives
the pixels `translate_uint8` gives on the Keras model (LiteRT and ONNX: within 1 level of 255 in the
tests). `value_range` is "signed" ([-1, 1], the CycleGAN generator's, the default) or "unit"
([0, 1]). `multiple` and `min_size` are the model's own size rule, owned by its architecture; for a
CycleGAN generator `tfstyle.cyclegan.inference.export_generator` passes
`tfstyle.cyclegan.models.SIZE_MULTIPLE` / `MIN_SIZE`. Only the SavedModel refuses images below
`min_size` (InvalidArgumentError): the LiteRT and ONNX converters drop TensorFlow's Assert op, so
there a smaller image gives a runtime error in the reflect padding or meaningless pixels.

LiteRT and ONNX need the `export` extra (`pip install "tfstyle[export]"`: tf2onnx, onnx,
onnxruntime, ai-edge-litert); `check_format` raises `MissingPackageError` naming it when a converter
is missing. Use one `export_dir` per format: TF Serving would try to load a version folder that
holds a `.tflite` file.

Versions are written by `files.staged_dir` (a hidden temp folder beside the target, then renamed
into place), so a reader never sees a partial version and a failure leaves nothing behind.

Why a `tf.Module` holding the model's `tf.Variable`s rather than `keras.Model.export`: in Keras 3.15
`model.export` stores every weight twice (keras-team/keras#23553: 91.6 MB instead of 46.9 MB for
the 11.4 M-parameter ResNet-9 generator); the module below stores each weight once, and its
SavedModel loads in TF Serving's session-based loader as well as in `tf.saved_model.load` (see
`_ServingModule` for the pitfall of tracking the Keras model itself).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import logging
import os

import keras
import tensorflow as tf

from tfstyle import files, images, options

logger = logging.getLogger(__name__)

SERVING_SIGNATURE = "serving_default"
BYTES_SIGNATURE = "translate_bytes"
IMAGES_KEY = "images"
STYLE_KEY = "style"  # arbitrary-style models: the painting, uint8 [1, H', W', 3]
ALPHA_KEY = "alpha"  # arbitrary-style models: the strength, float32 []
STYLE_BYTES_KEY = "style_bytes"
IMAGE_BYTES_KEY = "image_bytes"
PNG_BYTES_KEY = "png_bytes"
ONNX_OUTPUT_KEY = "translated"
ONNX_OPSET = 17  # tf2onnx 1.17 knows opsets up to 18 (default 15); onnxruntime runs 17 since 1.12

FORMATS = ("savedmodel", "litert", "onnx")
MODEL_FILES = {"litert": "model.tflite", "onnx": "model.onnx"}  # the file inside a version folder
EXPORT_EXTRA = 'pip install "tfstyle[export]"'
# The packages each format's conversion imports: (module, PyPI name).
_CONVERTERS = {"savedmodel": (), "litert": (), "onnx": (("onnx", "onnx"), ("tf2onnx", "tf2onnx"))}


class MissingPackageError(ImportError):
    """A converter package of an export format is not installed; the message names the extra to install."""


def takes_style(model: keras.Model) -> bool:
    """Whether `model` is an arbitrary-style network: three inputs (image, style image, alpha)."""
    return len(model.inputs) == 3


def style_conditions(style_uint8, alpha, value_range: str = "unit") -> tuple[tf.Tensor, tf.Tensor]:
    """An arbitrary-style model's extra inputs from the exported ones: the painting uint8 [S, H', W', 3] in the
    model's range (float32), and alpha float32 [] as [1]."""
    style = images.to_value_range(images.to_float(tf.convert_to_tensor(style_uint8, tf.uint8)), value_range)
    return style, tf.reshape(tf.cast(alpha, tf.float32), [1])


def translate_uint8(model: keras.Model, images_uint8, multiple: int, min_size: int,
                    value_range: str = "signed", conditions=()) -> tf.Tensor:
    """Runs an image model on uint8 images of any size (graph-safe): the function every export runs.

    The batch is reflect-padded at the bottom and right to the next multiple of `multiple`, run
    through `model`, and cropped back, so the output has the input's size. The SavedModel, LiteRT
    and ONNX exports run this function and `tfstyle.cyclegan.inference` runs it, so all give the
    same pixels.

    Args:
        model: maps float32 [B, H', W', 3] in `value_range` to float [B, H', W', 3] in `value_range`.
        images_uint8: uint8 [B, H, W, 3] in [0, 255]; H, W >= `min_size`.
        multiple: H' and W' are H and W rounded up to this: the model's own size rule (e.g.
            `tfstyle.cyclegan.models.SIZE_MULTIPLE`; 1 for a model that keeps any size).
        min_size: smallest H or W accepted (InvalidArgumentError below it), again the model's
            (e.g. `tfstyle.cyclegan.models.MIN_SIZE`).
        value_range: the model's pixel range, one of `tfstyle.images.VALUE_RANGES`: "signed" =
            [-1, 1] (a CycleGAN generator, tanh output), "unit" = [0, 1].
        conditions: further model inputs passed after the padded images, unchanged (an arbitrary-style
            model's style image and alpha, `style_conditions`).

    Returns:
        uint8 [B, H, W, 3] in [0, 255].
    """
    images.check_value_range(value_range)
    images_uint8 = tf.convert_to_tensor(images_uint8, tf.uint8)
    if images_uint8.shape[0]:  # a fixed batch of >= 1 (the LiteRT function's 1) needs no branch
        return _translate_nonempty(model, images_uint8, multiple, min_size, value_range, conditions)
    # MirrorPad rejects a dimension of size 0, even unpadded: an empty batch (a replica's share of a
    # partial batch under MirroredStrategy) is returned as is.
    return tf.cond(tf.shape(images_uint8)[0] > 0,
                   lambda: _translate_nonempty(model, images_uint8, multiple, min_size, value_range, conditions),
                   lambda: images_uint8)


def _translate_nonempty(model: keras.Model, images_uint8: tf.Tensor, multiple: int, min_size: int,
                        value_range: str, conditions=()) -> tf.Tensor:
    """`translate_uint8` on a batch of at least one image: no branch, so tf2onnx can freeze the weights."""
    shape = tf.shape(images_uint8)
    height, width = shape[1], shape[2]
    with tf.control_dependencies(
        [
            tf.debugging.assert_greater_equal(
                tf.minimum(height, width), min_size, message=f"image height and width must be >= {min_size}"
            )
        ]
    ):
        # Not (-height) % multiple: tf2onnx turns FloorMod of a negative number into ONNX's Mod,
        # which gives -1 for -37 % 4 (a crop, not a pad).
        pad_height = (multiple - height % multiple) % multiple
        pad_width = (multiple - width % multiple) % multiple
    model_input = images.to_value_range(images.to_float(images_uint8), value_range)  # float32 [B, H, W, 3]
    padded = tf.pad(model_input, [[0, 0], [0, pad_height], [0, pad_width], [0, 0]], mode="REFLECT")
    # MirrorPad with run-time paddings loses even its channel count in the LiteRT converter's shape
    # inference (its Conv2D then needs a TF op); a reshape to [B, H', W', 3] restores it.
    padded = tf.reshape(padded, tf.stack([shape[0], height + pad_height, width + pad_width, 3]))
    translated = model([padded, *conditions] if conditions else padded, training=False)  # [B, H', W', 3]
    translated = translated[:, :height, :width, :]
    return images.to_uint8(images.from_value_range(translated, value_range))


class _ServingModule(tf.Module):
    """The two serving functions and the model's weights, each stored once.

    Only the model's underlying `tf.Variable`s are tracked, not the Keras model: a tracked Keras 3
    variable exports a *second* `tf.Variable` copy of itself for its node in the object graph
    (`keras.src.backend.tensorflow.core.Variable._export_to_saved_model_graph`). Tracking the Keras
    model alone then gives a SavedModel whose checkpoint restores the copies while the functions
    read the originals: TF2's Python loader copes, but the session-based loader of TF Serving and
    `saved_model_cli run` fails with "Could not find variable ...". Tracking both (what
    `keras.Model.export` does) works but stores every weight twice (keras-team/keras#23553).
    """

    def __init__(self, model: keras.Model, multiple: int, min_size: int, value_range: str = "signed"):
        super().__init__(name="serving")
        self.model_variables = [_tf_variable(variable) for variable in model.weights]
        # A partial is not trackable, so the Keras model (and its variable copies) stays out of the export.
        translate = functools.partial(translate_uint8, model, multiple=multiple, min_size=min_size,
                                      value_range=value_range)

        def translate_encoded(image_bytes, conditions):
            """string [B] encoded images -> string [B] PNG, each image at its own size."""
            def translate_one(encoded):
                image = images.decode_rgb_in_graph(encoded)
                return tf.io.encode_png(translate(image[tf.newaxis], conditions=conditions)[0])

            return tf.map_fn(translate_one, image_bytes, fn_output_signature=tf.TensorSpec([], tf.string))

        # Only the two functions of this model's kind are attributes: SavedModel traces every tracked one.
        if not takes_style(model):
            @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name=IMAGES_KEY)])
            def serve_images(images_uint8):
                """uint8 [B, H, W, 3] -> {"images": uint8 [B, H, W, 3]}."""
                return {IMAGES_KEY: translate(images_uint8)}

            @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=IMAGE_BYTES_KEY)])
            def serve_bytes(image_bytes):
                """string [B] encoded images -> {"png_bytes": string [B] PNG}."""
                return {PNG_BYTES_KEY: translate_encoded(image_bytes, ())}
        else:
            @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name=IMAGES_KEY),
                                          tf.TensorSpec([1, None, None, 3], tf.uint8, name=STYLE_KEY),
                                          tf.TensorSpec([], tf.float32, name=ALPHA_KEY)])
            def serve_images(images_uint8, style_uint8, alpha):
                """uint8 [B, H, W, 3], the painting uint8 [1, H', W', 3], alpha [] -> {"images": uint8 [B, H, W, 3]}."""
                return {IMAGES_KEY: translate(images_uint8,
                                              conditions=style_conditions(style_uint8, alpha, value_range))}

            @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=IMAGE_BYTES_KEY),
                                          tf.TensorSpec([], tf.string, name=STYLE_BYTES_KEY),
                                          tf.TensorSpec([], tf.float32, name=ALPHA_KEY)])
            def serve_bytes(image_bytes, style_bytes, alpha):
                """string [B] encoded photos, one encoded painting, alpha [] -> {"png_bytes": string [B] PNG}."""
                style = images.decode_rgb_in_graph(style_bytes)
                conditions = style_conditions(style[tf.newaxis], alpha, value_range)
                return {PNG_BYTES_KEY: translate_encoded(image_bytes, conditions)}

        self.serve_images = serve_images
        self.serve_bytes = serve_bytes

    def signatures(self) -> dict:
        """{name: concrete function}: `serving_default` and `translate_bytes`."""
        return {SERVING_SIGNATURE: self.serve_images.get_concrete_function(),
                BYTES_SIGNATURE: self.serve_bytes.get_concrete_function()}


def _tf_variable(variable) -> tf.Variable:
    """The `tf.Variable` behind a Keras 3 variable (or the variable itself)."""
    value = variable.value if isinstance(variable, keras.Variable) else variable
    if not isinstance(value, tf.Variable):
        raise ValueError(f"expected a TensorFlow-backed variable, got {type(value).__name__} for {variable.path}")
    return value


def existing_versions(export_dir: str | os.PathLike) -> list[int]:
    """Sorted integer version folders inside `export_dir` (what TF Serving would see); [] if none."""
    export_dir = os.fspath(export_dir)
    if not os.path.isdir(export_dir):
        return []
    return sorted(
        int(name) for name in os.listdir(export_dir)
        if name.isdigit() and os.path.isdir(os.path.join(export_dir, name))
    )


def check_format(format: str, float16: bool = False) -> None:
    """Raises before any work unless `format` can be exported here.

    Raises:
        ValueError: `format` is not one of `FORMATS`, or `float16` is asked for a format other than litert.
        MissingPackageError: a converter package of `format` is not installed (the message names the
            `export` extra).
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if float16 and format != "litert":
        raise ValueError(f"float16 (--float16) stores LiteRT weights: it needs format litert, got {format}")
    for module, package in _CONVERTERS[format]:
        try:
            importlib.import_module(module)
        except ImportError as error:
            raise MissingPackageError(
                f"exporting to {format} needs the {package} package, which is not installed ({error}); "
                f"install the export extra: {EXPORT_EXTRA}"
            ) from error


def check_request(export_dir: str | os.PathLike, format: str = "savedmodel", version: int | None = None,
                  float16: bool = False) -> None:
    """What an export command checks before it loads any model: the format can be written here
    (`check_format`) and the version folder is free (`next_version_folder`).

    Raises:
        ValueError, MissingPackageError: as those two functions.
    """
    check_format(format, float16)
    next_version_folder(export_dir, version)


@dataclasses.dataclass(frozen=True)
class ExportRequest:
    """Where and in which format an export command writes: the flags every export CLI shares (each CLI's
    args dataclass subclasses this and adds where the model comes from)."""

    export_dir: str = options.option("", "model base path, e.g. saved_models/<name>; one per format (TF Serving "
                                         "watches the SavedModel's)")
    version: int | None = options.option(None, "version folder to write (default: largest existing + 1)")
    format: str = options.option("savedmodel", "savedmodel: TF Serving folder; litert: model.tflite; "
                                 "onnx: model.onnx", list(FORMATS))
    float16: bool = options.option(False, "litert only: store the weights in float16 (half the file)")

    def check(self) -> None:
        """Everything checked before a model is loaded (`check_request`); raises ValueError or MissingPackageError."""
        if not self.export_dir:
            raise ValueError("--export_dir is required, e.g. saved_models/<name>")
        check_request(self.export_dir, self.format, self.version, self.float16)


def next_version_folder(export_dir: str | os.PathLike, version: int | None = None) -> str:
    """`export_dir/<version>` for a new export (default version: the largest existing one + 1, or 1).

    Raises:
        ValueError: `version` exists already (never overwritten) or is not a positive integer, or
            `export_dir` is a file.
    """
    export_dir = os.path.abspath(os.fspath(export_dir))
    if os.path.exists(export_dir) and not os.path.isdir(export_dir):
        raise ValueError(f"export_dir is a file, not a folder: {export_dir}")
    versions = existing_versions(export_dir)
    if version is None:
        version = (versions[-1] + 1) if versions else 1
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"version must be a positive integer, got {version!r}")
    target = os.path.join(export_dir, str(version))
    if os.path.exists(target):
        raise ValueError(
            f"version {version} already exists: {target} (existing versions: {versions}); "
            "pick another --version or leave it out to use the next one"
        )
    return target


def export_model(
    model: keras.Model,
    export_dir: str | os.PathLike,
    format: str = "savedmodel",
    version: int | None = None,
    *,
    multiple: int,
    min_size: int,
    value_range: str = "signed",
    float16: bool = False,
) -> str:
    """Writes `model` in `format` as version `version` of `export_dir` (see the module docstring).

    The version folder is filled in a hidden temp folder beside it and renamed into place
    (`files.staged_dir`), so no reader sees a partial version and a failure leaves nothing behind.

    Args:
        model: maps float32 [B, H, W, 3] in `value_range` to `value_range`; H, W multiples of `multiple`.
        export_dir: the model's base path (created if missing), e.g. `saved_models/horse2zebra`.
        format: "savedmodel" (TF Serving), "litert" (`model.tflite`) or "onnx" (`model.onnx`).
        version: integer >= 1; default: one more than the largest existing version (1 when none).
        multiple: padding multiple of the model's architecture (see `translate_uint8`).
        min_size: smallest image side the model accepts (checked by the SavedModel only).
        value_range: the model's pixel range, "signed" ([-1, 1]) or "unit" ([0, 1]).
        float16: litert only: store the weights in float16.

    Returns:
        The path written: the version folder (savedmodel) or the model file inside it (litert, onnx).

    Raises:
        ValueError: bad format, float16 outside litert, bad value_range, a version that exists or is
            not a positive integer, or an `export_dir` that is a file.
        MissingPackageError: a converter package of `format` is missing.
        OSError: the disk refused the files (full, read-only); nothing is left behind.
    """
    check_format(format, float16)
    images.check_value_range(value_range)
    target = next_version_folder(export_dir, version)
    size_rule = {"multiple": multiple, "min_size": min_size, "value_range": value_range}
    try:
        with files.staged_dir(target) as temp_dir:
            if format == "savedmodel":
                module = _ServingModule(model, **size_rule)
                tf.saved_model.save(module, temp_dir, signatures=module.signatures())
            else:
                data = litert_bytes(model, float16=float16, **size_rule) if format == "litert" else onnx_bytes(
                    model, **size_rule)
                with open(os.path.join(temp_dir, MODEL_FILES[format]), "wb") as file:
                    file.write(data)
    except (tf.errors.ResourceExhaustedError, tf.errors.PermissionDeniedError, tf.errors.FailedPreconditionError,
            tf.errors.UnknownError) as error:  # the file system's refusal, raised by TensorFlow's writers
        raise OSError(f"cannot write {target}: {files.write_failure_cause(error.message)} (nothing was "
                      "written)") from None
    written = target if format == "savedmodel" else os.path.join(target, MODEL_FILES[format])
    logger.info("exported %s as %s (%d bytes) to %s", model.name, format, _folder_size(target), written)
    return written


def export_generator(
    generator: keras.Model,
    export_dir: str | os.PathLike,
    version: int | None = None,
    *,
    multiple: int,
    min_size: int,
    value_range: str = "signed",
) -> str:
    """Writes `generator` as a TF Serving SavedModel in `export_dir/<version>/`; returns that folder.

    `export_model(..., format="savedmodel")`, kept for its callers; see there for the arguments.
    """
    return export_model(generator, export_dir, "savedmodel", version, multiple=multiple, min_size=min_size,
                        value_range=value_range)


def litert_bytes(model: keras.Model, *, multiple: int, min_size: int, value_range: str = "signed",
                 float16: bool = False) -> bytes:
    """The LiteRT flatbuffer of `translate_uint8` on `model` for one image: uint8 [1, H, W, 3] -> uint8.

    Builtin LiteRT ops only (no TF Select), so it runs in `ai_edge_litert` without TensorFlow. H and W
    are dynamic (`resize_tensor_input`); the Assert on `min_size` is dropped by the converter.
    `float16=True` stores the weights in float16 (`Optimize.DEFAULT` with `supported_types=[tf.float16]`):
    half the weight bytes; the CPU runtime dequantizes them to float32 when it loads the file.
    """
    module = tf.Module(name="litert")
    module.model_variables = [_tf_variable(variable) for variable in model.weights]
    specs = _input_specs(model, batch=1)

    @tf.function(input_signature=specs)
    def translate_one(images_uint8, *style_inputs):
        conditions = style_conditions(*style_inputs, value_range) if style_inputs else ()
        return {IMAGES_KEY: translate_uint8(model, images_uint8, multiple, min_size, value_range, conditions)}

    converter = tf.lite.TFLiteConverter.from_concrete_functions([translate_one.get_concrete_function()], module)
    if float16:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def onnx_bytes(model: keras.Model, *, multiple: int, min_size: int, value_range: str = "signed") -> bytes:
    """The ONNX model (tf2onnx, opset `ONNX_OPSET`) of `translate_uint8` on `model`: `images` uint8
    [B, H, W, 3] -> `translated` uint8 [B, H, W, 3], B >= 1, H and W dynamic.

    It runs the empty-batch-free core of `translate_uint8`: tf2onnx cannot freeze the weights read
    inside the branch that guards an empty batch. The Assert on `min_size` is dropped by tf2onnx.

    Raises:
        MissingPackageError: tf2onnx or onnx is not installed.
    """
    check_format("onnx")
    import tf2onnx

    images.check_value_range(value_range)
    specs = _input_specs(model, batch=None)

    @tf.function(input_signature=specs)
    def translate(images_uint8, *style_inputs):
        conditions = style_conditions(*style_inputs, value_range) if style_inputs else ()
        return {ONNX_OUTPUT_KEY: _translate_nonempty(model, images_uint8, multiple, min_size, value_range,
                                                     conditions)}

    model_proto, _ = tf2onnx.convert.from_function(translate, input_signature=specs, opset=ONNX_OPSET)
    return model_proto.SerializeToString()

def _input_specs(model: keras.Model, batch: int | None) -> list[tf.TensorSpec]:
    """The exported inputs: `images` uint8 [batch, H, W, 3], plus `style` uint8 [1, H', W', 3] and `alpha`
    float32 [] for an arbitrary-style model."""
    specs = [tf.TensorSpec([batch, None, None, 3], tf.uint8, name=IMAGES_KEY)]
    if takes_style(model):
        specs += [tf.TensorSpec([1, None, None, 3], tf.uint8, name=STYLE_KEY),
                  tf.TensorSpec([], tf.float32, name=ALPHA_KEY)]
    return specs


def _folder_size(path: str) -> int:
    return sum(
        os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names
    )
