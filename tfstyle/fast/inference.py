"""Load a trained feed-forward network (from its run folder, or a bundled one) and stylise images of any size.

`load_model(model_dir)` rebuilds the network from `<model_dir>/config.json` (task "fast_style") and
restores it from the newest readable checkpoint (`tfstyle.training.rundir.RunDir`), or from the float16
`weights.npz` of a bundled model. `load_model()` with no folder loads `BUNDLED_MODEL` (a network of the
bundled Starry Night, trained by `python -m tfstyle.fast.train`; its MODEL_CARD.md says how). The
`FastModel` it returns gives a photo -> stylised photo network, `FastModel.stylizer(styles, blend, alpha)`:
the per-style transformer itself, or the AdaIN network with the style statistics of the given paintings (a
blend: their weighted sum, Huang & Belongie 2017 section 7.2) and the strength alpha held inside it.

Images of any size are stylised by `tfstyle.inference.Translator` (the same padding, batching over replicas and
uint8 handling as `translate` and the exports, `tfstyle.export.translate_uint8`), told that the network
works in [0, 1] (`models.VALUE_RANGE`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from tfstyle import geometry, losses, options
from tfstyle.fast import magenta as magenta_lib
from tfstyle.fast import models
from tfstyle.fast.config import BUNDLED_MODEL, MAGENTA, PRECISIONS, TASK, FastTrainConfig  # noqa: F401
from tfstyle.training import rundir

logger = logging.getLogger(__name__)

WEIGHTS_FILE = "weights.npz"  # a bundled model's weights: float16 arrays "0", "1", ... in `model.weights` order
STYLE_SIZE = 512  # long side, px, paintings are resized to before the AdaIN network reads their statistics
VECTOR_CACHE = 16  # paintings whose style vectors a MagentaModel remembers
MODEL_STYLE_SIZE = 0  # a `style_size` argument meaning "the network's own" (`style_size` of each model)


class _Stylises:
    """What every loaded style network offers on top of its `stylizer`: a cached Translator and `stylize`."""

    style_size = STYLE_SIZE

    def _style_size(self, style_size: int | None) -> int | None:
        return self.style_size if style_size == MODEL_STYLE_SIZE else style_size

    def translator(self, network: keras.Model, strategy: tf.distribute.Strategy | None = None):
        """The `tfstyle.inference.Translator` of `network` (from `stylizer`), built and traced once per network."""
        from tfstyle import inference as image_inference

        key = (id(network), id(strategy))
        if key not in self._translators:
            self._translators[key] = image_inference.Translator(network, strategy, models.VALUE_RANGE,
                                                                multiple=self.multiple)
        return self._translators[key]

    def stylize(self, photos: Sequence[np.ndarray], styles: Sequence = (), blend: Sequence[float] | None = None,
                alpha: float = 1.0, preserve_colors: str = "none", style_size: int | None = MODEL_STYLE_SIZE,
                batch_size: int = 1, strategy: tf.distribute.Strategy | None = None) -> list[np.ndarray]:
        """Stylises uint8 [H_i, W_i, 3] photos of any sizes (>= 8 px a side); returns uint8 images of the same sizes.

        The library form of `python -m tfstyle.fast.stylize`: `styles`, `blend`, `alpha` and `style_size` as
        `stylizer` takes them, then `preserve_colors` ("none", "luminance", "histogram") on each result.
        Repeated calls reuse the traced network (an arbitrary model's new style or alpha is a weight update).
        """
        check_preserve_colors(preserve_colors)  # before the network runs
        network = self.stylizer(styles, blend, alpha, style_size)
        outputs = self.translator(network, strategy)(photos, batch_size=batch_size)
        return [preserve_colors_of(output, np.asarray(photo), preserve_colors)
                for output, photo in zip(outputs, photos, strict=True)]


@dataclasses.dataclass
class FastModel(_Stylises):
    """A loaded feed-forward network and its training config.

    `network` is the per-style transformer (photo -> stylised, [0, 1] -> [0, 1]) or, for an arbitrary-style
    model, `models.build_arbitrary`'s [photo, painting, alpha] -> stylised; `encoder` and `decoder` are set
    for the latter only.
    """

    config: FastTrainConfig
    folder: str
    network: keras.Model
    encoder: keras.Model | None = None
    decoder: keras.Model | None = None
    _fixed: keras.Model | None = None
    _translators: dict = dataclasses.field(default_factory=dict)

    @property
    def arbitrary(self) -> bool:
        return bool(self.config.arbitrary)

    @property
    def name(self) -> str:
        return os.path.basename(os.path.normpath(self.folder))

    @property
    def multiple(self) -> int:
        """The network's size rule: H and W are padded to a multiple of this."""
        return models.ARBITRARY_SIZE_MULTIPLE if self.arbitrary else geometry.SIZE_MULTIPLE

    def style_statistics(self, styles: Sequence, blend: Sequence[float] | None = None,
                         style_size: int | None = MODEL_STYLE_SIZE) -> tuple[tf.Tensor, tf.Tensor]:
        """Blended relu4_1 statistics of `styles` (RGB images: uint8 [H, W, 3], or float in [0, 1]), each
        resized to a long side of `style_size` px first (None: as given): (mean, std), float32 [1, 512] each,
        sum_k w_k mu_k and sum_k w_k sigma_k with the `blend` weights normalised to sum 1 (default equal)."""
        from tfstyle import images, loss_targets

        if not self.arbitrary:
            raise ValueError("a per-style network has its style built in; styles are for arbitrary-style models")
        if not styles:
            raise ValueError(f"{self.name} is an arbitrary-style network: give it at least one --style image")
        options.check_blend(blend, len(styles))
        weights = loss_targets.normalised(blend or (), len(styles))  # empty: equal weights
        style_size = self._style_size(style_size)
        mean = std = 0.0
        for style, weight in zip(styles, weights, strict=True):
            image = images.as_image(style, "style")
            if style_size:
                image = images.resize_long_side(image, style_size)
            encoded = self.encoder(tf.convert_to_tensor(image)[tf.newaxis], training=False)[models.ENCODER_LAYER]
            mean = mean + weight * losses.feature_mean(encoded)
            std = std + weight * losses.feature_std(encoded)
        return mean, std

    def stylizer(self, styles: Sequence = (), blend: Sequence[float] | None = None, alpha: float = 1.0,
                 style_size: int | None = MODEL_STYLE_SIZE) -> keras.Model:
        """photo float32 [B, H, W, 3] in [0, 1] (H, W multiples of `multiple`) -> stylised, float32 in [0, 1].

        Per-style models: the transformer; `styles` must be empty and `alpha` 1. Arbitrary models: one
        network (built once, traced once) whose AdaIN layer is set to the blend of `styles` and to `alpha`.

        Raises:
            ValueError: styles for a per-style model or none for an arbitrary one, alpha outside [0, 1], or a
                blend whose count does not match the styles.
        """
        options.check_alpha(alpha)
        if not self.arbitrary:
            if styles:
                raise ValueError(f"{self.name} is a per-style network (its style is built in): it takes no "
                                 "--style; train one with --arbitrary for styles chosen at run time")
            if alpha != 1.0:
                raise ValueError(f"{self.name} is a per-style network: --alpha needs an arbitrary-style model")
            return self.network
        mean, std = self.style_statistics(styles, blend, style_size)
        if self._fixed is None:
            self._fixed = models.build_fixed_style(self.encoder, self.decoder)
        self._fixed.get_layer("adain").set_style(mean, std, alpha)
        return self._fixed


@dataclasses.dataclass
class MagentaModel(_Stylises):
    """Magenta's pretrained arbitrary-style network (`tfstyle.fast.magenta`): the style predictor and the
    transformer with the converted weights. `network` is the [photo, painting, alpha] -> stylised model the
    exports serve; `stylizer` gives photo -> stylised networks holding a style vector."""

    predictor: keras.Model
    transformer: keras.Model
    folder: str = MAGENTA
    _network: keras.Model | None = None
    _fixed: dict = dataclasses.field(default_factory=dict)
    _translators: dict = dataclasses.field(default_factory=dict)
    _vectors: dict = dataclasses.field(default_factory=dict)
    _predict: object = None
    style_size = magenta_lib.STYLE_SIZE
    arbitrary = True
    multiple = geometry.SIZE_MULTIPLE

    @property
    def name(self) -> str:
        return MAGENTA

    @property
    def network(self) -> keras.Model:
        if self._network is None:
            self._network = magenta_lib.build_arbitrary(self.predictor, self.transformer)
        return self._network

    def style_vector(self, styles: Sequence, blend: Sequence[float] | None = None,
                     style_size: int | None = MODEL_STYLE_SIZE) -> tf.Tensor:
        """sum_k w_k S(style_k), float32 [1, 100]: each painting (uint8 [H, W, 3], or float in [0, 1]) resized to a
        long side of `style_size` px (`MODEL_STYLE_SIZE`: 256, the predictor's; None: as given), the `blend`
        weights normalised to sum 1 (default equal)."""
        from tfstyle import loss_targets

        if not styles:
            raise ValueError(f"{self.name} is an arbitrary-style network: give it at least one --style image")
        options.check_blend(blend, len(styles))
        weights = loss_targets.normalised(blend or (), len(styles))
        style_size = self._style_size(style_size)
        return magenta_lib.mix_style_vectors([self._vector(style, style_size) for style in styles], weights)

    def _vector(self, style, style_size: int | None) -> tf.Tensor:
        """S(style), float32 [1, 100], remembered for the last `VECTOR_CACHE` paintings (by their pixels and
        `style_size`), so stylising photo after photo with one painting predicts its vector once."""
        import hashlib

        from tfstyle import images

        array = np.ascontiguousarray(style)
        key = (hashlib.sha1(array.tobytes()).hexdigest(), array.shape, str(array.dtype), style_size)
        if key in self._vectors:
            return self._vectors[key]
        image = images.as_image(style, "style")
        if style_size:
            image = images.resize_long_side(image, style_size)
        if min(image.shape[:2]) < magenta_lib.MIN_STYLE_SIZE:
            raise ValueError(f"a --style painting read at {image.shape[1]}x{image.shape[0]} px is below the "
                             f"{magenta_lib.MIN_STYLE_SIZE} px a side the style predictor needs")
        if self._predict is None:  # traced once per painting size: an eager call costs twice the network
            self._predict = tf.function(lambda x: self.predictor(x, training=False), reduce_retracing=True)
        vector = self._predict(tf.convert_to_tensor(image, tf.float32)[tf.newaxis])
        if len(self._vectors) >= VECTOR_CACHE:
            self._vectors.pop(next(iter(self._vectors)))
        self._vectors[key] = vector
        return vector

    def stylizer(self, styles: Sequence = (), blend: Sequence[float] | None = None, alpha: float = 1.0,
                 style_size: int | None = MODEL_STYLE_SIZE) -> keras.Model:
        """photo float32 [B, H, W, 3] in [0, 1] (H, W multiples of 4) -> stylised, float32 in [0, 1]: one network per
        kind (alpha = 1: the transformer on the held vector; alpha < 1: each photo's own vector mixed in, Ghiasi
        et al. section 4.3), built and traced once; a new painting, blend or alpha is a weight update."""
        options.check_alpha(alpha)
        vector = self.style_vector(styles, blend, style_size)
        photo_style = alpha < 1.0
        if photo_style not in self._fixed:
            self._fixed[photo_style] = magenta_lib.build_fixed_style(self.predictor, self.transformer, photo_style)
        network = self._fixed[photo_style]
        network.get_layer("held_style").set_style(vector, alpha)
        return network


def resolve_precision(precision: str) -> tuple[str, str]:
    """("float32" or "bf16", why): "auto" is bf16 where the hardware computes it fast
    (`tfstyle.distribute.fast_bf16`: a GPU of compute capability >= 8.0, a CPU with AVX512-BF16 or AMX),
    else float32. On the bundled network at 512 px, bf16 output differs from float32 by 0.2 levels of 255 on
    average and 1 level at the 99th percentile (three shared photos, 2026-12-06), at about half the time."""
    from tfstyle import distribute

    if precision not in PRECISIONS:
        raise ValueError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision, "asked for"
    fast, reason = distribute.fast_bf16()
    return ("bf16" if fast else "float32"), reason


def load_model(model_dir: str | os.PathLike | None = None, strategy: tf.distribute.Strategy | None = None,
               precision: str = "float32") -> FastModel:
    """Rebuilds a trained per-style or arbitrary-style network.

    Args:
        model_dir: a training run folder (config.json of a fast_style run, checkpoints/), a bundled-model
            folder (config.json + weights.npz), or None for `BUNDLED_MODEL`.
        strategy: the variables are created in its scope (default: the current strategy).
        precision: "float32", "bf16" (layers compute in bfloat16, weights and output stay float32) or "auto"
            (`resolve_precision`).

    Raises:
        FileNotFoundError: no such folder, no config.json, or no checkpoint.
        ValueError: a run folder of another trainer (a CycleGAN run, say), or weights that do not fit.
    """
    if model_dir is not None and os.fspath(model_dir) == MAGENTA:
        return load_magenta(strategy=strategy, precision=precision)
    folder = os.fspath(model_dir) if model_dir is not None else BUNDLED_MODEL
    run_dir = rundir.RunDir(folder)
    run_dir.check_exists()
    config = run_dir.load_config(FastTrainConfig, task=TASK)
    bundled = os.path.isfile(os.path.join(folder, WEIGHTS_FILE))
    if not bundled:
        run_dir.check_has_checkpoint(f"train first with python -m tfstyle.fast.train --model_dir {folder} ...")
    strategy = strategy or tf.distribute.get_strategy()
    from tfstyle import distribute

    precision, _ = resolve_precision(precision)
    with strategy.scope(), distribute.dtype_policy("bf16" if precision == "bf16" else "none"):
        if config.arbitrary:
            from tfstyle.fast import task

            encoder = task.build_encoder(config)
            trained = models.build_decoder(config.decoder_width, name=task.DECODER_KEY)
            key = task.DECODER_KEY
        elif config.init == MAGENTA:  # fine-tuned from Magenta's transformer, holding its painting's style vector
            encoder, key = None, "transformer"
            trained = magenta_lib.build_fixed_style(None, magenta_lib.build_style_transformer(), photo_style=False,
                                                    name=key)
        else:
            encoder = None
            trained = models.build_transformer(config.filters, config.residual_blocks, name="transformer")
            key = "transformer"
        if bundled:
            load_weights(trained, os.path.join(folder, WEIGHTS_FILE))
            logger.info("loaded the model in %s", folder)
        else:
            path = run_dir.restore_required(tf.train.Checkpoint(**{key: trained}), partial=True)
            logger.info("restored the %s from %s", key, path)
        if config.arbitrary:
            return FastModel(config, folder, models.build_arbitrary(encoder, trained), encoder, trained)
    return FastModel(config, folder, trained)


def load_magenta(cache_dir: str | None = None, strategy: tf.distribute.Strategy | None = None,
                 precision: str = "float32") -> MagentaModel:
    """Magenta's pretrained arbitrary-style network from the weights cache, in `strategy`'s scope and `precision`
    (as `load_model`).

    Raises:
        FileNotFoundError: never fetched (the message names `python -m tfstyle.weights fetch`).
        ValueError: a corrupt or altered cache file.
    """
    from tfstyle import distribute

    strategy = strategy or tf.distribute.get_strategy()
    precision, _ = resolve_precision(precision)
    with strategy.scope(), distribute.dtype_policy("bf16" if precision == "bf16" else "none"):
        predictor, transformer = magenta_lib.load_networks(cache_dir)
    logger.info("loaded Magenta's arbitrary-style network (%s)", precision)
    return MagentaModel(predictor, transformer)


def load_transformer(model_dir: str | os.PathLike | None = None,
                     strategy: tf.distribute.Strategy | None = None) -> tuple[keras.Model, FastTrainConfig]:
    """Rebuilds a trained per-style transformer: float32 [B, H, W, 3] in [0, 1] -> [0, 1] (H, W multiples of 4).

    Args:
        model_dir: a training run folder (config.json of a fast_style run, checkpoints/), a bundled-model
            folder (config.json + weights.npz), or None for `BUNDLED_MODEL`.
        strategy: the variables are created in its scope (default: the current strategy).

    Returns:
        (transformer, its training config).

    Raises:
        FileNotFoundError: no such folder, no config.json, or no checkpoint.
        ValueError: a run folder of another trainer (a CycleGAN run, say) or of an arbitrary-style network,
            or weights that do not fit.
    """
    model = load_model(model_dir, strategy)
    if model.arbitrary:
        raise ValueError(f"{model.folder} holds an arbitrary-style model; load it with load_model")
    return model.network, model.config


def save_weights(model: keras.Model, path: str | os.PathLike) -> str:
    """Writes `model`'s weights as float16 arrays in a compressed .npz (half the size of float32), atomically."""
    from tfstyle import files

    arrays = {str(index): np.asarray(weight, np.float16) for index, weight in enumerate(model.get_weights())}
    with files.atomic_path(os.fspath(path)) as temp_path, open(temp_path, "wb") as file:
        np.savez_compressed(file, **arrays)
    return os.fspath(path)


def load_weights(model: keras.Model, path: str | os.PathLike) -> None:
    """Reads `save_weights`' file into `model` (cast back to float32); ValueError if the shapes do not fit."""
    with np.load(os.fspath(path)) as stored:
        arrays = [stored[str(index)] for index in range(len(stored.files))]
    expected = [tuple(weight.shape) for weight in model.weights]
    if [array.shape for array in arrays] != expected:
        raise ValueError(f"{path} does not fit a {model.name} of this configuration "
                         f"({len(arrays)} arrays, the model has {len(expected)} weights)")
    model.set_weights([array.astype(np.float32) for array in arrays])


def stylize_images(transformer: keras.Model, images_uint8, batch_size: int = 1,
                   strategy: tf.distribute.Strategy | None = None) -> list[np.ndarray]:
    """Stylises uint8 [H_i, W_i, 3] images of any sizes (>= 8 px a side); returns uint8 images of the same sizes."""
    from tfstyle import inference

    return inference.translate_images(transformer, images_uint8, batch_size=batch_size, strategy=strategy,
                                      value_range=models.VALUE_RANGE)


def preserve_colors_of(stylised_uint8: np.ndarray, photo_uint8: np.ndarray, mode: str) -> np.ndarray:
    """Gives a network's output the photo's colours (`tfstyle.colour`, the optimisation path's two modes),
    applied to the output because a feed-forward network runs in one pass:

    * "luminance": the output's YIQ luma with the photo's chroma (`colour.recombine_luminance`);
    * "histogram": the output's RGB mean and covariance matched to the photo's (`colour.match_color`);
    * "none": the output unchanged.

    Args:
        stylised_uint8, photo_uint8: uint8 [H, W, 3], the same size.

    Returns:
        uint8 [H, W, 3].
    """
    from tfstyle import colour, images

    check_preserve_colors(mode)
    if mode == "none":
        return stylised_uint8
    stylised, photo = images.to_float(stylised_uint8), images.to_float(photo_uint8)
    kept = colour.recombine_luminance(stylised, photo) if mode == "luminance" else colour.match_color(stylised, photo)
    return np.asarray(images.to_uint8(kept))


def check_preserve_colors(mode: str) -> None:
    """ValueError unless `mode` is one of `tfstyle.options.PRESERVE_COLORS`."""
    if mode not in options.PRESERVE_COLORS:
        raise ValueError(f"--preserve_colors must be one of {', '.join(options.PRESERVE_COLORS)}, got {mode!r}")

