"""SavedModel export of an image-to-image model for TF Serving: uint8 and encoded-bytes signatures.

`export_generator(generator, "saved_models/horse2zebra", multiple=4, min_size=8)` writes
`saved_models/horse2zebra/<version>/`, the layout TF Serving watches (`--model_base_path=saved_models/horse2zebra`
serves the largest version). `multiple` and `min_size` are the model's own size rule, owned by its
architecture; for a CycleGAN generator `tfstyle.cyclegan.inference.export_generator` passes
`tfstyle.cyclegan.models.SIZE_MULTIPLE` / `MIN_SIZE`. The SavedModel holds two signatures, both taking
images of any height and width:

* `serving_default`: `images` uint8 [B, H, W, 3] in [0, 255] -> `images` uint8 [B, H, W, 3];
* `translate_bytes`: `image_bytes` string [B] (encoded PNG/JPEG/BMP/GIF, one image each, any sizes)
  -> `png_bytes` string [B] (PNG). TF Serving's REST API base64-encodes outputs whose name ends
  in `_bytes`, so JSON clients get `{"b64": ...}` back.

Range changes inside the graph use `tfstyle.images` (uint8 -> [0, 1] -> [-1, 1] -> model ->
[0, 1] -> uint8), so a client never sees the model's [-1, 1] range.

Why a `tf.Module` holding the model's `tf.Variable`s rather than `keras.Model.export`: in Keras 3.15
`model.export` stores every weight twice (keras-team/keras#23553: 91.6 MB instead of 46.9 MB for
the 11.4 M-parameter ResNet-9 generator); the module below stores each weight once, and its
SavedModel loads in TF Serving's session-based loader as well as in `tf.saved_model.load` (see
`_ServingModule` for the pitfall of tracking the Keras model itself).
"""

from __future__ import annotations

import functools
import logging
import os

import keras
import tensorflow as tf

from tfstyle import files, images

logger = logging.getLogger(__name__)

SERVING_SIGNATURE = "serving_default"
BYTES_SIGNATURE = "translate_bytes"
IMAGES_KEY = "images"
IMAGE_BYTES_KEY = "image_bytes"
PNG_BYTES_KEY = "png_bytes"


def translate_uint8(model: keras.Model, images_uint8, multiple: int, min_size: int) -> tf.Tensor:
    """Runs a [-1, 1] -> [-1, 1] image model on uint8 images of any size (graph-safe).

    The batch is reflect-padded at the bottom and right to the next multiple of `multiple`, run
    through `model`, and cropped back, so the output has the input's size. This is the function the
    SavedModel serves and the one `tfstyle.cyclegan.inference` runs, so both give the same pixels.

    Args:
        model: maps float32 [B, H', W', 3] in [-1, 1] to float [B, H', W', 3] in [-1, 1] (tanh).
        images_uint8: uint8 [B, H, W, 3] in [0, 255]; H, W >= `min_size`.
        multiple: H' and W' are H and W rounded up to this: the model's own size rule (e.g.
            `tfstyle.cyclegan.models.SIZE_MULTIPLE`; 1 for a model that keeps any size).
        min_size: smallest H or W accepted (InvalidArgumentError below it), again the model's
            (e.g. `tfstyle.cyclegan.models.MIN_SIZE`).

    Returns:
        uint8 [B, H, W, 3] in [0, 255].
    """
    images_uint8 = tf.convert_to_tensor(images_uint8, tf.uint8)
    shape = tf.shape(images_uint8)
    height, width = shape[1], shape[2]
    with tf.control_dependencies(
        [
            tf.debugging.assert_greater_equal(
                tf.minimum(height, width), min_size, message=f"image height and width must be >= {min_size}"
            )
        ]
    ):
        pad_height = (-height) % multiple
        pad_width = (-width) % multiple

    def translate():
        signed = images.to_signed(images.to_float(images_uint8))  # float32 [B, H, W, 3] in [-1, 1]
        padded = tf.pad(signed, [[0, 0], [0, pad_height], [0, pad_width], [0, 0]], mode="REFLECT")
        translated = model(padded, training=False)  # [B, H', W', 3] in [-1, 1]
        translated = translated[:, :height, :width, :]
        return images.to_uint8(images.from_signed(translated))

    # MirrorPad rejects a dimension of size 0, even unpadded: an empty batch (a replica's share of a
    # partial batch under MirroredStrategy) is returned as is.
    return tf.cond(shape[0] > 0, translate, lambda: images_uint8)


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

    def __init__(self, model: keras.Model, multiple: int, min_size: int):
        super().__init__(name="serving")
        self.model_variables = [_tf_variable(variable) for variable in model.weights]
        # A partial is not trackable, so the Keras model (and its variable copies) stays out of the export.
        self._translate = functools.partial(translate_uint8, model, multiple=multiple, min_size=min_size)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name=IMAGES_KEY)])
    def serve_images(self, images_uint8):
        """uint8 [B, H, W, 3] -> {"images": uint8 [B, H, W, 3]}."""
        return {IMAGES_KEY: self._translate(images_uint8)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=IMAGE_BYTES_KEY)])
    def serve_bytes(self, image_bytes):
        """string [B] encoded images -> {"png_bytes": string [B] PNG}, each image at its own size."""

        def translate_one(encoded):
            image = tf.io.decode_image(encoded, channels=3, dtype=tf.uint8, expand_animations=False)
            translated = self._translate(image[tf.newaxis])
            return tf.io.encode_png(translated[0])

        png = tf.map_fn(translate_one, image_bytes, fn_output_signature=tf.TensorSpec([], tf.string))
        return {PNG_BYTES_KEY: png}


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


def export_generator(
    generator: keras.Model,
    export_dir: str | os.PathLike,
    version: int | None = None,
    *,
    multiple: int,
    min_size: int,
) -> str:
    """Writes `generator` as a TF Serving SavedModel in `export_dir/<version>/`.

    The SavedModel is written by `files.staged_dir` (a hidden temp folder beside the target, then
    renamed into place), so TF Serving (which only loads integer-named folders) never sees a partial
    version, and a failure leaves nothing behind.

    Args:
        generator: maps float32 [B, H, W, 3] in [-1, 1] to [-1, 1]; H, W multiples of `multiple`.
        export_dir: the model's base path (created if missing), e.g. `saved_models/horse2zebra`.
        version: integer >= 1; default: one more than the largest existing version (1 when none).
        multiple: padding multiple of the generator's architecture (see `translate_uint8`).
        min_size: smallest image side the generator, and so the signatures, accept.

    Returns:
        The path of the written version folder.

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

    with files.staged_dir(target) as temp_dir:
        module = _ServingModule(generator, multiple, min_size)
        signatures = {
            SERVING_SIGNATURE: module.serve_images.get_concrete_function(),
            BYTES_SIGNATURE: module.serve_bytes.get_concrete_function(),
        }
        tf.saved_model.save(module, temp_dir, signatures=signatures)
    logger.info("exported %s (%d bytes) to %s", generator.name, _folder_size(target), target)
    return target


def _folder_size(path: str) -> int:
    return sum(
        os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names
    )
