"""Magenta's arbitrary-style network (Ghiasi, Lee, Kudlur, Dumoulin & Shlens 2017, "Exploring the structure of
a real-time, arbitrary neural artistic stylization network"), distilled version of TF Hub / TF Lite, as native
Keras functional builders: any photo size, float32 or bf16, weights from `tfstyle.weights.magenta`.

Style predictor (`build_style_predictor`): MobileNetV2 (Sandler et al. 2018, width 1.0, batch norms folded into
the convolutions' biases) over the painting, the mean over positions of its last 1280 channels, and a 1 x 1
convolution to the style vector S, 100 numbers::

    conv 3x3 /2, 32, ReLU6                                       (B, H/2, W/2, 32)
    17 inverted residuals (expand 1x1 ReLU6, depthwise 3x3 ReLU6, project 1x1; + input where the shape holds):
      t, c, n, s = (1, 16, 1, 1) (6, 24, 2, 2) (6, 32, 3, 2) (6, 64, 4, 2) (6, 96, 3, 1) (6, 160, 3, 2) (6, 320, 1, 1)
    conv 1x1, 1280, ReLU6; mean over H x W; conv 1x1 -> 100      (B, 100)

"same" padding as TensorFlow pads it (a stride-2 layer pads the bottom and right). Input float [B, H, W, 3]
RGB in [0, 1] (the preprocessing is folded into the first convolution), H, W >= 32; the predictor was
trained on 256 px paintings (`STYLE_SIZE`).

Transformer (`build_style_transformer`), [photo, S] -> stylised, every "pad" a reflection::

    pad 4, conv 9x9, 8, ReLU                                     (B, H, W, 8)
    pad 1, conv 3x3 /2, 16, ReLU; pad 1, conv 3x3 /2, 32, ReLU   (B, H/4, W/4, 32)
    5 x  x + [pad 1, conv 3x3, CIN, ReLU, pad 1, conv 3x3, CIN](x)
    nearest x2, pad 1, conv 3x3, 16, CIN, ReLU                   (B, H/2, W/2, 16)
    nearest x2, pad 1, conv 3x3, 8, CIN, ReLU                    (B, H, W, 8)
    pad 4, conv 9x9, 3, CIN, sigmoid                             (B, H, W, 3) in [0, 1]

where CIN is `tfstyle.layers.ConditionalInstanceNorm` with gamma and beta linear in S (the graph's
"StyleNorm/Conv_1" and "StyleNorm/Conv" 1 x 1 convolutions over S). 178,065 parameters; H, W multiples of 4
(`tfstyle.export.translate_uint8` pads other sizes); output float32.

Ghiasi et al.'s strength control (section 4.3): S = alpha S(painting) + (1 - alpha) S(photo), the photo's own
style vector at alpha = 0 (`mix_style_vectors`). Layer names are those of the original graph with "/" as "-".
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from tfstyle import layers

STYLE_DIM = 100
STYLE_SIZE = 256  # px, the paintings the predictor was trained and distilled on (the TF Hub model's input)
CONTENT_SIZE = 384  # px, the TF Lite transformer's fixed input
MIN_STYLE_SIZE = 32
PREDICTOR_NAME = "magenta_style_predictor"
TRANSFORMER_NAME = "magenta_style_transformer"
# MobileNetV2's inverted residual settings: expansion t, channels c, repeats n, first stride s.
INVERTED_RESIDUALS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                      (6, 320, 1, 1))
RESIDUAL_BLOCKS = 5


def keras_name(graph_name: str) -> str:
    """The Keras layer name of a layer of the original graph ("a/b/c" -> "a-b-c": Keras names hold no "/")."""
    return graph_name.replace("/", "-")


def build_style_predictor(name: str = PREDICTOR_NAME) -> keras.Model:
    """painting float32 [B, H, W, 3] in [0, 1] -> style vector float32 [B, 100] (see the module docstring)."""
    inputs = keras.Input(shape=(None, None, 3), name="painting")

    def conv(x, filters, kernel, graph_name, stride=1, relu6=True):
        x = keras.layers.Conv2D(filters, kernel, strides=stride, padding="same", name=keras_name(graph_name))(x)
        return keras.layers.ReLU(6.0, name=keras_name(graph_name) + "-relu6")(x) if relu6 else x

    def depthwise(x, graph_name, stride):
        x = keras.layers.DepthwiseConv2D(3, strides=stride, padding="same", name=keras_name(graph_name))(x)
        return keras.layers.ReLU(6.0, name=keras_name(graph_name) + "-relu6")(x)

    x = conv(inputs, 32, 3, "MobilenetV2/Conv", stride=2)
    block, channels = 0, 32
    for expansion, filters, repeats, first_stride in INVERTED_RESIDUALS:
        for repeat in range(repeats):
            stride = first_stride if repeat == 0 else 1
            prefix = "MobilenetV2/expanded_conv" + (f"_{block}" if block else "")
            y = conv(x, channels * expansion, 1, f"{prefix}/expand") if expansion != 1 else x
            y = depthwise(y, f"{prefix}/depthwise", stride)
            y = conv(y, filters, 1, f"{prefix}/project", relu6=False)
            x = keras.layers.Add(name=keras_name(prefix) + "-add")([x, y]) if stride == 1 and channels == filters else y
            block, channels = block + 1, filters
    x = conv(x, 1280, 1, "MobilenetV2/Conv_1")
    x = keras.layers.GlobalAveragePooling2D(keepdims=True, name="bottleneck-mean")(x)
    x = conv(x, STYLE_DIM, 1, "mobilenet_conv/Conv", relu6=False)
    outputs = keras.layers.Reshape((STYLE_DIM,), name="style_vector", dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def build_style_transformer(name: str = TRANSFORMER_NAME) -> keras.Model:
    """[photo float32 [B, H, W, 3] in [0, 1], style vector float32 [B or 1, 100]] -> stylised float32
    [B, H, W, 3] in [0, 1], H and W multiples of 4 (see the module docstring)."""
    photo = keras.Input(shape=(None, None, 3), name="photo")
    style = keras.Input(shape=(STYLE_DIM,), name="style_vector")

    def conv(x, filters, kernel, graph_name, stride=1):
        x = layers.ReflectionPadding2D(kernel // 2, name=keras_name(graph_name) + "-pad")(x)
        return keras.layers.Conv2D(filters, kernel, strides=stride, name=keras_name(graph_name))(x)

    def norm(x, graph_name):
        return layers.ConditionalInstanceNorm(name=keras_name(graph_name) + "-StyleNorm")([x, style])

    x = photo
    for index, (filters, kernel, stride) in enumerate(((8, 9, 1), (16, 3, 2), (32, 3, 2)), start=1):
        x = keras.layers.ReLU(name=f"transformer-contract-conv{index}-relu")(
            conv(x, filters, kernel, f"transformer/contract/conv{index}", stride))
    for block in range(1, RESIDUAL_BLOCKS + 1):
        prefix = f"transformer/residual/residual{block}"
        y = keras.layers.ReLU(name=keras_name(prefix) + "-relu")(
            norm(conv(x, 32, 3, f"{prefix}/conv1"), f"{prefix}/conv1"))
        y = norm(conv(y, 32, 3, f"{prefix}/conv2"), f"{prefix}/conv2")
        x = keras.layers.Add(name=keras_name(prefix) + "-add")([x, y])
    for index, filters in ((1, 16), (2, 8)):
        graph_name = f"transformer/expand/conv{index}/conv"
        x = layers.NearestUpsampling2D(name=f"transformer-expand-conv{index}-upsample")(x)
        x = keras.layers.ReLU(name=keras_name(graph_name) + "-relu")(norm(conv(x, filters, 3, graph_name), graph_name))
    x = norm(conv(x, 3, 9, "transformer/expand/conv3/conv"), "transformer/expand/conv3/conv")
    outputs = keras.layers.Activation("sigmoid", dtype="float32", name="stylised")(x)
    return keras.Model([photo, style], outputs, name=name)


def load_weights(predictor: keras.Model | None, transformer: keras.Model | None, arrays: dict[str, np.ndarray]) -> None:
    """Sets the builders' weights from `tfstyle.weights.magenta.load_arrays`' arrays (graph names).

    Raises:
        ValueError: a layer with no array or an array shape that does not fit (the name is given).
    """
    epsilon = float(arrays.get("epsilon", 1e-5))
    for model in (m for m in (predictor, transformer) if m is not None):
        for layer in model.layers:
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
                graph_name = layer.name.replace("-", "/")
                values = [arrays.get(f"{graph_name}/kernel"), arrays.get(f"{graph_name}/bias")]
            elif isinstance(layer, layers.ConditionalInstanceNorm):
                layer.epsilon = epsilon
                base = "style_params/" + layer.name[: -len("-StyleNorm")].replace("-", "/") + "/StyleNorm"
                values = [arrays.get(f"{base}/{part}/{kind}")
                          for part in ("Conv_1", "Conv") for kind in ("kernel", "bias")]
                values = [None if v is None else (v.reshape(v.shape[-2:]) if v.ndim == 4 else v) for v in values]
            else:
                continue
            if any(value is None for value in values):
                raise ValueError(f"the converted Magenta weights have no arrays for layer {layer.name}")
            expected = [tuple(weight.shape) for weight in layer.weights]
            if [tuple(value.shape) for value in values] != expected:
                raise ValueError(f"layer {layer.name}: converted shapes {[v.shape for v in values]} do not fit "
                                 f"{expected}")
            layer.set_weights([np.asarray(value, np.float32) for value in values])


def load_networks(cache_dir: str | os.PathLike | None = None) -> tuple[keras.Model, keras.Model]:
    """(style predictor, transformer) with the converted pretrained weights, in the current strategy's scope
    and dtype policy.

    Raises:
        FileNotFoundError: the network was never fetched (the message names the command that fetches it).
        ValueError: a corrupt or altered cache file.
    """
    from tfstyle.weights import magenta as converted
    from tfstyle.weights import resolve

    arrays = converted.load_arrays(os.fspath(cache_dir) if cache_dir else resolve.default_cache_dir())
    predictor, transformer = build_style_predictor(), build_style_transformer()
    load_weights(predictor, transformer, arrays)
    return predictor, transformer


def mix_style_vectors(vectors: Sequence[tf.Tensor], weights: Sequence[float], alpha: float = 1.0,
                      photo_vector: tf.Tensor | None = None) -> tf.Tensor:
    """sum_k w_k S_k (the `weights` normalised to sum 1), then alpha times that plus (1 - alpha) times the
    photo's own style vector (Ghiasi et al. 2017, section 4.3). Vectors float32 [1, 100]; returns [1, 100]."""
    total = float(sum(weights))
    mixed = tf.add_n([tf.cast(vector, tf.float32) * (weight / total) for vector, weight in zip(vectors, weights,
                                                                                            strict=True)])
    if alpha == 1.0 or photo_vector is None:
        return mixed
    return alpha * mixed + (1.0 - alpha) * tf.cast(photo_vector, tf.float32)


@keras.saving.register_keras_serializable(package="tfstyle")
class HeldStyle(keras.layers.Layer):
    """The style vector a stylising network holds: S = alpha S_held + (1 - alpha) S_photo, or S_held alone when the
    layer is called with no photo vector. Non-trainable weights `style_vector` float32 [1, 100] and `alpha`
    float32 [1], set by `set_style`, so one traced network serves any painting, blend or alpha, and an export
    carries them.

    Call: photo vectors float32 [B, 100] -> [B, 100]; or a photo batch [B, H, W, 3] with `photo_style=False` ->
    the held vector [1, 100] (the transformer broadcasts it over the batch).
    """

    def __init__(self, photo_style: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.photo_style = bool(photo_style)
        self.style_vector = self.add_weight(shape=(1, STYLE_DIM), initializer="zeros", trainable=False,
                                            name="style_vector", dtype="float32")
        self.alpha = self.add_weight(shape=(1,), initializer="ones", trainable=False, name="alpha", dtype="float32")

    def set_style(self, vector, alpha: float = 1.0) -> None:
        self.style_vector.assign(tf.reshape(tf.cast(vector, tf.float32), [1, STYLE_DIM]))
        self.alpha.assign([float(alpha)])

    def call(self, inputs):
        if not self.photo_style:
            return tf.identity(self.style_vector)
        photo_vector = tf.cast(inputs, tf.float32)
        return self.alpha * self.style_vector + (1.0 - self.alpha) * photo_vector

    def compute_output_shape(self, input_shape):
        return (input_shape[0], STYLE_DIM) if self.photo_style else (1, STYLE_DIM)

    def get_config(self):
        return {**super().get_config(), "photo_style": self.photo_style}


def photo_style_vector(predictor: keras.Model, photo) -> tf.Tensor:
    """The photo's own style vector, for alpha < 1: the predictor on the photo squashed to STYLE_SIZE x STYLE_SIZE
    (what it was trained on), bilinear as TF Hub's own example feeds it (an antialiased resize has no LiteRT or
    ONNX op). photo float [B, H, W, 3] in [0, 1] -> float32 [B, 100]."""
    return predictor(keras.layers.Resizing(STYLE_SIZE, STYLE_SIZE, name="photo_to_style_size")(photo))


def build_fixed_style(predictor: keras.Model | None, transformer: keras.Model, photo_style: bool,
                      name: str = "magenta_fixed_style") -> keras.Model:
    """photo float32 [B, H, W, 3] in [0, 1] (H, W multiples of 4) -> stylised, with the style held in a `HeldStyle`
    layer named "held_style" (`set_style`). `photo_style`: mix in each photo's own style vector (alpha < 1;
    runs the predictor on every photo); else the held vector alone (alpha = 1: the transformer only; `predictor`
    may be None). The per-style networks of `--init magenta` runs are this model with `photo_style=False`."""
    if photo_style and predictor is None:
        raise ValueError("a network that mixes in each photo's own style vector needs the style predictor")
    photo = keras.Input(shape=(None, None, 3), name="photo")
    held = HeldStyle(photo_style, name="held_style")
    vector = held(photo_style_vector(predictor, photo)) if photo_style else held(photo)
    return keras.Model(photo, transformer([photo, vector]), name=name)


def norm_variables(transformer: keras.Model) -> list:
    """The trainable variables of the transformer's conditional instance norms (the gamma / beta projections of
    the style vector): what `--finetune norms` moves."""
    return [variable for layer in transformer.layers if isinstance(layer, layers.ConditionalInstanceNorm)
            for variable in layer.trainable_variables]


def build_arbitrary(predictor: keras.Model, transformer: keras.Model, name: str = "magenta_arbitrary") -> keras.Model:
    """[photo [B, H, W, 3], painting [1, H', W', 3], alpha [1]] -> stylised: the network every arbitrary-style
    export serves (`tfstyle.export.style_conditions`); images float32 in [0, 1], the painting squashed to
    STYLE_SIZE x STYLE_SIZE inside (bilinear, as `photo_style_vector`), S = alpha S(painting) + (1 - alpha) S(photo)."""
    photo = keras.Input(shape=(None, None, 3), name="photo")
    painting = keras.Input(shape=(None, None, 3), name="painting")
    alpha = keras.Input(shape=(), name="alpha")
    style = predictor(keras.layers.Resizing(STYLE_SIZE, STYLE_SIZE, name="painting_to_style_size")(painting))
    own = photo_style_vector(predictor, photo)
    weight = keras.layers.Reshape((1,), name="alpha_column")(alpha)
    vector = keras.layers.Lambda(lambda t: t[0] * t[1] + (1.0 - t[0]) * t[2], name="mix_styles")([weight, style, own])
    return keras.Model([photo, painting, alpha], transformer([photo, vector]), name=name)
