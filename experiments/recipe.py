"""The peer anyone can copy: the TensorFlow style-transfer tutorial's recipe, written the way the tutorial writes it.

It shares nothing with tfstyle but the pixels of the input images and the VGG19 weights file (tfstyle's
readers load the files and say which weights file to use, so both methods see the same inputs):
`keras.applications.VGG19` (max pooling) fed `keras.applications.vgg19.preprocess_input` of the
255-scaled image; content block5_conv2, style block1_conv1 .. block5_conv1; Gram = einsum over positions /
number of locations; the targets computed once, before the loop; loss = 1e-2 x mean over layers of the mean
squared Gram difference + 1e4 x mean over layers of the mean squared feature difference + 30 x
`tf.image.total_variation`; `tf.optimizers.Adam(0.02, beta_1=0.99, epsilon=0.1)` in a `@tf.function` train
step (GradientTape, `apply_gradients`, then the image clipped to [0, 1]).

    recipe = TutorialRecipe(content, style, weights_path)   # float32 [1, H, W, 3] in [0, 1] each
    for _ in range(120):
        recipe.train_step()
    recipe.image.numpy()

Used by `bench_optimize.py` (speed) and `compare_recipe.py` (quality at equal time).
"""

from __future__ import annotations

import keras
import tensorflow as tf

CONTENT_LAYERS = ["block5_conv2"]
STYLE_LAYERS = ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1"]
STYLE_WEIGHT, CONTENT_WEIGHT, TOTAL_VARIATION_WEIGHT = 1e-2, 1e4, 30


def vgg_layers(layer_names, weights_path):
    """VGG19 without its classifier, returning the named layers; `weights_path` None = random."""
    vgg = keras.applications.VGG19(include_top=False, weights=weights_path)
    vgg.trainable = False
    outputs = [vgg.get_layer(name).output for name in layer_names]
    return keras.Model([vgg.input], outputs)


def gram_matrix(input_tensor):
    result = tf.linalg.einsum("bijc,bijd->bcd", input_tensor, input_tensor)
    input_shape = tf.shape(input_tensor)
    num_locations = tf.cast(input_shape[1] * input_shape[2], tf.float32)
    return result / num_locations


def clip_0_1(image):
    return tf.clip_by_value(image, clip_value_min=0.0, clip_value_max=1.0)


class TutorialRecipe:
    """The tutorial's model, targets, loss and train step for one content and one style image.

    Args:
        content_image, style_image: float32 [1, H, W, 3] RGB in [0, 1] (sizes may differ).
        weights_path: the VGG19 "notop" weights file (None: random weights, for smoke tests).
        style_weight: the tutorial's 1e-2 unless a sweep scales it.
    """

    def __init__(self, content_image, style_image, weights_path, style_weight: float = STYLE_WEIGHT):
        self.style_weight = float(style_weight)
        self.vgg = vgg_layers(STYLE_LAYERS + CONTENT_LAYERS, weights_path)
        self.style_targets = self.style_content(style_image)["style"]  # once, before the loop
        self.content_targets = self.style_content(content_image)["content"]
        self.content_image = tf.constant(content_image)
        self.image = tf.Variable(content_image)
        self.opt = tf.optimizers.Adam(learning_rate=0.02, beta_1=0.99, epsilon=1e-1)
        self.train_step = tf.function(self._train_step)
        self.total_loss = tf.function(self._total_loss)

    def style_content(self, inputs):
        """inputs: float32 [1, H, W, 3] RGB in [0, 1] -> {"style": Grams, "content": features}."""
        preprocessed_input = keras.applications.vgg19.preprocess_input(inputs * 255.0)
        outputs = self.vgg(preprocessed_input)
        style_outputs = [gram_matrix(output) for output in outputs[:len(STYLE_LAYERS)]]
        content_outputs = outputs[len(STYLE_LAYERS):]
        return {"content": dict(zip(CONTENT_LAYERS, content_outputs, strict=True)),
                "style": dict(zip(STYLE_LAYERS, style_outputs, strict=True))}

    def style_content_loss(self, outputs):
        style_loss = tf.add_n([tf.reduce_mean((outputs["style"][name] - self.style_targets[name]) ** 2)
                               for name in STYLE_LAYERS]) * self.style_weight / len(STYLE_LAYERS)
        content_loss = tf.add_n([tf.reduce_mean((outputs["content"][name] - self.content_targets[name]) ** 2)
                                 for name in CONTENT_LAYERS]) * CONTENT_WEIGHT / len(CONTENT_LAYERS)
        return style_loss + content_loss

    def _train_step(self):
        image = self.image
        with tf.GradientTape() as tape:
            outputs = self.style_content(image)
            loss = self.style_content_loss(outputs)
            loss += TOTAL_VARIATION_WEIGHT * tf.image.total_variation(image)
        grad = tape.gradient(loss, image)
        self.opt.apply_gradients([(grad, image)])
        image.assign(clip_0_1(image))
        return loss  # the tutorial returns nothing; callers read it to wait for the step

    def _total_loss(self, x):
        return tf.reduce_sum(self.style_content_loss(self.style_content(x))
                             + TOTAL_VARIATION_WEIGHT * tf.image.total_variation(x))
