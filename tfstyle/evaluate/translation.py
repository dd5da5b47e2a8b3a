"""Translation evaluation: KID and FID between translated images and the real target domain.

Protocol (what `evaluate_translation` and `python -m tfstyle.evaluate translation` do):

* Sets. Generated: every image file directly inside `generated_dir`, e.g. what
  `python -m tfstyle.cyclegan.translate` wrote for the held-out split of the source domain
  (testA for a TFDS / Berkeley CycleGAN set). Target: every image file directly inside
  `target_dir`, the real images of the target domain from the split not used for training
  (testB); the shared `unpaired/photo2painting` set has no split, so its `B/` is used whole.
  With `max_images`, a larger folder is cut to a random sample of that many images, drawn
  with `seed` (the same seed, the same sample). Both sets need at least 2 images.
* Pixels. Each file is decoded to RGB [0, 1] (`tfstyle.images`, EXIF rotation applied) and
  resized to S x S px with `tfstyle.images.resize` (bicubic, antialiased), the whole image,
  no crop: the aspect ratio is not kept (CycleGAN outputs are square anyway). S = 224 for VGG19
  and 299 for InceptionV3, the networks' native input sizes; `image_size` overrides it (tests).
* Features.
  - "vgg" (default, offline): ImageNet VGG19 of `tfstyle.features` (weights "auto", the JSON
    names them; caffe preprocessing inside), the block5_conv4 activations (after ReLU) averaged
    over all positions: 512 numbers per image. The metrics are called **KID-VGG** and
    **FID-VGG**: they are not Inception KID / FID and their values are on another scale.
  - "inception": Keras `InceptionV3(include_top=False, pooling="avg", weights="imagenet")`,
    the 2048 average-pooled features before the classifier (the layer FID uses), input scaled to
    [-1, 1] (`tfstyle.images.to_signed`, which is Keras' `inception_v3.preprocess_input`).
    Keras downloads the weights once (online), or `inception_weights` names a weights file.
    These are Keras' ImageNet weights, not the 2015 TF graph of the reference FID code, so
    KID-Inception / FID-Inception are comparable with each other, not with published FIDs.
* KID (`tfstyle.evaluate.metrics.kid`): unbiased MMD^2 with the cubic polynomial kernel,
  averaged over 100 random subsets of m = min(1000, N_generated, N_target) images per set
  (seed 0), reported as mean and standard deviation over the subsets. Often quoted x 1000.
* FID (`tfstyle.evaluate.metrics.fid`): from the means and covariances of all the images.
  It is biased upwards for small sets (with fewer images than features the covariances are
  singular), so compare FIDs only between sets of equal sizes; prefer KID for small sets.

Everything is deterministic: the same folders give the same numbers.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Sequence

import keras
import numpy as np

from tfstyle import data, features, images
from tfstyle import weights as weights_lib
from tfstyle.evaluate import metrics

logger = logging.getLogger(__name__)

FEATURE_SPACES = ("vgg", "inception")
VGG_LAYER = "block5_conv4"
VGG_IMAGE_SIZE = 224
INCEPTION_IMAGE_SIZE = 299
INCEPTION_MIN_SIZE = 75  # the smallest input Keras' InceptionV3 accepts
INCEPTION_KERAS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
BATCH_SIZE = 16


@dataclasses.dataclass(frozen=True)
class FeatureSpace:
    """A network that turns images into one feature vector each.

    Attributes:
        name: "vgg" or "inception".
        metric_suffix: "VGG" or "Inception": the metrics are called KID-<suffix>, FID-<suffix>.
        image_size: S, the side every image is resized to (px).
        dimension: D, features per image.
        description: network, layer and weights, one line.
        embed: float32 [B, S, S, 3] in [0, 1] -> float32 [B, D].
    """

    name: str
    metric_suffix: str
    image_size: int
    dimension: int
    description: str
    embed: Callable

    @property
    def kid_name(self) -> str:
        return f"KID-{self.metric_suffix}"

    @property
    def fid_name(self) -> str:
        return f"FID-{self.metric_suffix}"


@dataclasses.dataclass(frozen=True)
class ExtractionStep:
    """Progress of `extract_features`: `done` of `total` images of set `name` embedded."""

    name: str
    done: int
    total: int


def _vgg_space(weights: str, image_size: int, cache_dir: str | None) -> FeatureSpace:
    minimum = features.min_image_size("vgg19", (VGG_LAYER,))
    if image_size < minimum:
        raise ValueError(f"image_size {image_size} px is below the {minimum} px VGG19 {VGG_LAYER} needs")
    resolved = weights_lib.resolve_weights("vgg19", weights, cache_dir=cache_dir)
    extractor = features.build_feature_extractor(
        "vgg19", (VGG_LAYER,), weights=resolved.path or "random", pooling="max", cache_dir=cache_dir)

    def embed(batch):
        maps = extractor(batch, training=False)[VGG_LAYER]  # (B, S/16, S/16, 512)
        return keras.ops.mean(keras.ops.cast(maps, "float32"), axis=(1, 2))  # (B, 512)

    description = f"VGG19 {VGG_LAYER} (ReLU), global average pooled; weights: {resolved.description}"
    return FeatureSpace("vgg", "VGG", image_size, 512, description, embed)


def _inception_space(inception_weights: str | None, image_size: int) -> FeatureSpace:
    if image_size < INCEPTION_MIN_SIZE:
        raise ValueError(f"image_size {image_size} px is below the {INCEPTION_MIN_SIZE} px InceptionV3 needs")
    if inception_weights:
        path = os.path.expanduser(os.fspath(inception_weights))
        if not os.path.isfile(path):
            raise FileNotFoundError(f"InceptionV3 weights file not found: {inception_weights}")
        try:
            model = keras.applications.InceptionV3(
                include_top=False, pooling="avg", weights=path, input_shape=(image_size, image_size, 3))
        except (ValueError, OSError, KeyError) as error:
            raise ValueError(f"cannot load InceptionV3 (no top) weights from {path}: {error}") from None
        source = f"file {path}"
    else:
        cached = os.path.join(weights_lib.keras_models_dir(), INCEPTION_KERAS_FILE)
        try:
            model = keras.applications.InceptionV3(
                include_top=False, pooling="avg", weights="imagenet", input_shape=(image_size, image_size, 3))
        except Exception as error:  # Keras' get_file raises a bare Exception when the download fails
            if os.path.isfile(cached):
                raise
            raise FileNotFoundError(
                f"no InceptionV3 ImageNet weights: Keras could not download them ({error}); pass "
                f"--inception_weights=PATH (e.g. {INCEPTION_KERAS_FILE} copied from a machine online) "
                "or use --features=vgg (KID-VGG / FID-VGG work offline)") from None
        source = f"Keras ImageNet ({cached})"
    model.trainable = False

    def embed(batch):
        return keras.ops.cast(model(images.to_signed(batch), training=False), "float32")  # (B, 2048)

    description = f"Keras InceptionV3 ImageNet, include_top=False, pooling=avg; weights: {source}"
    return FeatureSpace("inception", "Inception", image_size, 2048, description, embed)


def build_feature_space(features_name: str = "vgg", *, weights: str = "auto",
                        inception_weights: str | None = None, image_size: int | None = None,
                        cache_dir: str | None = None) -> FeatureSpace:
    """Builds the feature network of the protocol (module docstring).

    Args:
        features_name: "vgg" (offline, KID-VGG / FID-VGG) or "inception".
        weights: VGG19 weights for "vgg", as `tfstyle.weights.resolve_weights` takes them.
        inception_weights: a Keras weights file of InceptionV3 without its top, for "inception";
            None lets Keras use (or download) its ImageNet file.
        image_size: S; None means the network's native size (224 / 299).
        cache_dir: folder of converted VGG weights.

    Raises:
        ValueError: unknown feature space, too small an image size, a bad weights file.
        FileNotFoundError: no weights (offline without a file: the message says what to do).
    """
    if features_name not in FEATURE_SPACES:
        raise ValueError(f"unknown features {features_name!r}: use one of {', '.join(FEATURE_SPACES)}")
    if features_name == "vgg":
        return _vgg_space(weights, image_size or VGG_IMAGE_SIZE, cache_dir)
    return _inception_space(inception_weights, image_size or INCEPTION_IMAGE_SIZE)


def select_images(directory: str | os.PathLike, max_images: int | None = None, seed: int = 0) -> list[str]:
    """The image files of a set: all of `directory`, or a seeded random sample of `max_images` (sorted).

    Raises:
        FileNotFoundError: no such folder. ValueError: fewer than 2 images, or a file that is not an image.
    """
    paths = images.list_images(directory)
    if max_images is not None:
        if max_images < 2:
            raise ValueError(f"max_images must be at least 2, got {max_images}")
        if len(paths) > max_images:
            rows = np.random.default_rng(seed).choice(len(paths), max_images, replace=False)
            paths = [paths[row] for row in sorted(rows)]
    if len(paths) < 2:
        raise ValueError(f"KID and FID need at least 2 images per set; {directory} has {len(paths)}")
    data.validate_image_files(paths)  # headers only: a bad file fails before any network is built
    return paths


def extract_features(paths: Sequence[str | os.PathLike], space: FeatureSpace, *,
                     batch_size: int = BATCH_SIZE, name: str = "images",
                     callback: Callable[[ExtractionStep], None] | None = None) -> np.ndarray:
    """Embeds image files following the protocol: decode, resize to S x S, `space.embed`.

    Args:
        paths: image files.
        space: from `build_feature_space`.
        batch_size: images per forward pass (results do not depend on it beyond float round-off).
        name: the set's name in progress reports.
        callback: called with an `ExtractionStep` before the first batch (done = 0) and after
            every batch.

    Returns:
        float64 [N, D], one row per path, in order.
    """
    size = (space.image_size, space.image_size)
    if callback is not None:
        callback(ExtractionStep(name, 0, len(paths)))
    rows = []
    for start in range(0, len(paths), batch_size):
        batch = np.stack([np.asarray(images.resize(images.to_float(images.read_image_uint8(path)), size))
                          for path in paths[start:start + batch_size]])  # (B, S, S, 3) in [0, 1]
        rows.append(np.asarray(space.embed(batch), dtype=np.float64))
        if callback is not None:
            callback(ExtractionStep(name, min(start + batch_size, len(paths)), len(paths)))
    return np.concatenate(rows, axis=0)


def evaluate_translation(generated_dir: str | os.PathLike, target_dir: str | os.PathLike,
                         features: str = "vgg", *, max_images: int | None = None,
                         kid_subsets: int = metrics.KID_SUBSETS,
                         kid_subset_size: int = metrics.KID_SUBSET_SIZE, seed: int = 0,
                         image_size: int | None = None, weights: str = "auto",
                         inception_weights: str | None = None, batch_size: int = BATCH_SIZE,
                         cache_dir: str | None = None,
                         callback: Callable[[ExtractionStep], None] | None = None) -> dict:
    """KID and FID between the generated images and the real target domain (protocol: module docstring).

    Args:
        generated_dir: folder of translated images.
        target_dir: folder of real target-domain images (held-out split).
        features: "vgg" (KID-VGG / FID-VGG, offline) or "inception".
        max_images: cap per set (seeded sample); None uses every image.
        kid_subsets, kid_subset_size, seed: KID subsets (see `metrics.kid`); the seed also draws
            the `max_images` samples.
        image_size: S; None means 224 (VGG19) / 299 (InceptionV3).
        weights, inception_weights, cache_dir: see `build_feature_space`.
        batch_size: images per forward pass.
        callback: progress, an `ExtractionStep` per batch.

    Returns:
        JSON-ready dict: {"KID-<net>": mean, "KID-<net>_std": std, "FID-<net>": value,
        "generated": {"dir", "count"}, "target": {"dir", "count"}, "protocol": {...}}.

    Raises:
        FileNotFoundError, ValueError: missing folders, fewer than 2 images, unreadable files,
        no weights, bad settings (named in the message).
    """
    generated = select_images(generated_dir, max_images, seed)
    target = select_images(target_dir, max_images, seed)
    space = build_feature_space(features, weights=weights, inception_weights=inception_weights,
                                image_size=image_size, cache_dir=cache_dir)
    features_generated = extract_features(generated, space, batch_size=batch_size, name="generated",
                                          callback=callback)
    features_target = extract_features(target, space, batch_size=batch_size, name="target", callback=callback)
    subset_size = metrics.kid_subset_size(len(generated), len(target), kid_subset_size)
    if subset_size == min(len(generated), len(target)):
        logger.warning("KID subsets of %d images hold a whole set: the std only reflects resampling the "
                       "other set (0 when the sets are equal in size)", subset_size)
    kid_mean, kid_std = metrics.kid(features_generated, features_target, kid_subsets, kid_subset_size, seed)
    fid_value = metrics.fid(features_generated, features_target)
    return {
        space.kid_name: kid_mean,
        f"{space.kid_name}_std": kid_std,
        space.fid_name: fid_value,
        "generated": {"dir": os.fspath(generated_dir), "count": len(generated)},
        "target": {"dir": os.fspath(target_dir), "count": len(target)},
        "protocol": {
            "features": space.name,
            "network": space.description,
            "feature_dimension": space.dimension,
            "resize": f"whole image to {space.image_size}x{space.image_size} px, bicubic, antialiased, "
                      "no crop",
            "max_images": max_images,
            "kid": {"kernel": "(x.y/d + 1)^3", "estimator": "unbiased MMD^2", "subsets": kid_subsets,
                    "subset_size": subset_size, "seed": seed, "std": "over subsets"},
            "fid": "||mu_g - mu_t||^2 + Tr(S_g + S_t - 2 (S_g S_t)^(1/2)), covariances with N - 1",
        },
    }
