"""The peer for pix2pix: the TensorFlow tutorial's recipe ("pix2pix: Image-to-image translation with a
conditional GAN", tensorflow.org/tutorials/generative/pix2pix), written the way that tutorial writes it.

What the tutorial does, and this module with it:

* generator: a U-Net for 256 x 256 x 3 inputs made of `downsample` blocks (Conv2D 4x4 stride 2 "same", no
  bias, N(0, 0.02) init, batch norm but on the first, LeakyReLU) 64-128-256-512-512-512-512-512, and
  `upsample` blocks (Conv2DTranspose 4x4 stride 2 "same", no bias, batch norm, dropout 0.5 on the first
  three, ReLU) 512-512-512-512-256-128-64, each concatenated with the matching skip, then a
  Conv2DTranspose to 3 channels with tanh;
* discriminator: the PatchGAN on [input, target] concatenated: downsample 64 (no norm), 128, 256, then
  zero-pad, Conv2D 512 4x4 stride 1 (no bias), batch norm, LeakyReLU, zero-pad, Conv2D 1 4x4 (logits,
  30 x 30 for 256 px);
* losses: binary cross-entropy on logits; generator loss = GAN + LAMBDA * mean |target - output| with
  LAMBDA = 100; discriminator loss = real + generated (not halved);
* optimisers: Adam(2e-4, beta_1 0.5) for each network, constant rate;
* `train_step` under `tf.function`: one forward pass with `training=True` for both networks inside two
  gradient tapes, then both updates;
* data: each A|B image split in two, resized to 286 x 286 (nearest), random-cropped together to 256,
  mirrored half the time, scaled to [-1, 1], batch 1.

Differences from tfstyle's pix2pix that the benchmark and the study should be read with: "same" padding
(the reference pads explicitly, and its skip carries the LeakyReLU'd encoder output), no bias anywhere but the
last layer (the reference has a bias on the outermost transposed conv too), the discriminator's loss not
halved, no learning-rate decay, batch norm in training mode at test time in the tutorial's
`generate_images` (this module's `translate` uses `training=False`, as tfstyle does, for a like-for-like
comparison).
"""

from __future__ import annotations

import tensorflow as tf

OUTPUT_CHANNELS = 3
LAMBDA = 100


def downsample(filters, size, apply_batchnorm=True):
    initializer = tf.random_normal_initializer(0.0, 0.02)
    result = tf.keras.Sequential()
    result.add(tf.keras.layers.Conv2D(filters, size, strides=2, padding="same", kernel_initializer=initializer,
                                      use_bias=False))
    if apply_batchnorm:
        result.add(tf.keras.layers.BatchNormalization())
    result.add(tf.keras.layers.LeakyReLU())
    return result


def upsample(filters, size, apply_dropout=False):
    initializer = tf.random_normal_initializer(0.0, 0.02)
    result = tf.keras.Sequential()
    result.add(tf.keras.layers.Conv2DTranspose(filters, size, strides=2, padding="same",
                                               kernel_initializer=initializer, use_bias=False))
    result.add(tf.keras.layers.BatchNormalization())
    if apply_dropout:
        result.add(tf.keras.layers.Dropout(0.5))
    result.add(tf.keras.layers.ReLU())
    return result


def Generator():  # noqa: N802 - the tutorial's name
    inputs = tf.keras.layers.Input(shape=[256, 256, 3])
    down_stack = [downsample(64, 4, apply_batchnorm=False)] + [
        downsample(filters, 4) for filters in (128, 256, 512, 512, 512, 512, 512)]
    up_stack = [upsample(512, 4, apply_dropout=True) for _ in range(3)] + [
        upsample(filters, 4) for filters in (512, 256, 128, 64)]
    last = tf.keras.layers.Conv2DTranspose(OUTPUT_CHANNELS, 4, strides=2, padding="same",
                                           kernel_initializer=tf.random_normal_initializer(0.0, 0.02),
                                           activation="tanh")
    x = inputs
    skips = []
    for down in down_stack:
        x = down(x)
        skips.append(x)
    skips = reversed(skips[:-1])
    for up, skip in zip(up_stack, list(skips), strict=True):
        x = up(x)
        x = tf.keras.layers.Concatenate()([x, skip])
    x = last(x)
    return tf.keras.Model(inputs=inputs, outputs=x)


def Discriminator():  # noqa: N802 - the tutorial's name
    initializer = tf.random_normal_initializer(0.0, 0.02)
    inp = tf.keras.layers.Input(shape=[256, 256, 3], name="input_image")
    tar = tf.keras.layers.Input(shape=[256, 256, 3], name="target_image")
    x = tf.keras.layers.concatenate([inp, tar])
    x = downsample(64, 4, False)(x)
    x = downsample(128, 4)(x)
    x = downsample(256, 4)(x)
    x = tf.keras.layers.ZeroPadding2D()(x)
    x = tf.keras.layers.Conv2D(512, 4, strides=1, kernel_initializer=initializer, use_bias=False)(x)
    x = tf.keras.layers.BatchNormalization()(x)
    x = tf.keras.layers.LeakyReLU()(x)
    x = tf.keras.layers.ZeroPadding2D()(x)
    last = tf.keras.layers.Conv2D(1, 4, strides=1, kernel_initializer=initializer)(x)
    return tf.keras.Model(inputs=[inp, tar], outputs=last)


loss_object = tf.keras.losses.BinaryCrossentropy(from_logits=True)


def generator_loss(disc_generated_output, gen_output, target):
    gan_loss = loss_object(tf.ones_like(disc_generated_output), disc_generated_output)
    l1_loss = tf.reduce_mean(tf.abs(target - gen_output))
    return gan_loss + (LAMBDA * l1_loss), gan_loss, l1_loss


def discriminator_loss(disc_real_output, disc_generated_output):
    real_loss = loss_object(tf.ones_like(disc_real_output), disc_real_output)
    generated_loss = loss_object(tf.zeros_like(disc_generated_output), disc_generated_output)
    return real_loss + generated_loss


class Recipe:
    """The tutorial's models, optimisers and `train_step`, as one object (the tutorial keeps them global)."""

    def __init__(self):
        self.generator = Generator()
        self.discriminator = Discriminator()
        self.generator_optimizer = tf.keras.optimizers.Adam(2e-4, beta_1=0.5)
        self.discriminator_optimizer = tf.keras.optimizers.Adam(2e-4, beta_1=0.5)
        self.train_step = tf.function(self._train_step)

    def _train_step(self, input_image, target):
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            gen_output = self.generator(input_image, training=True)
            disc_real_output = self.discriminator([input_image, target], training=True)
            disc_generated_output = self.discriminator([input_image, gen_output], training=True)
            gen_total_loss, gen_gan_loss, gen_l1_loss = generator_loss(disc_generated_output, gen_output, target)
            disc_loss = discriminator_loss(disc_real_output, disc_generated_output)
        generator_gradients = gen_tape.gradient(gen_total_loss, self.generator.trainable_variables)
        discriminator_gradients = disc_tape.gradient(disc_loss, self.discriminator.trainable_variables)
        self.generator_optimizer.apply_gradients(
            zip(generator_gradients, self.generator.trainable_variables, strict=True))
        self.discriminator_optimizer.apply_gradients(
            zip(discriminator_gradients, self.discriminator.trainable_variables, strict=True))
        return {"gen_total_loss": gen_total_loss, "gen_gan_loss": gen_gan_loss, "gen_l1_loss": gen_l1_loss,
                "disc_loss": disc_loss}


def random_jitter(input_image, real_image):
    """The tutorial's augmentation: resize both halves to 286 (nearest), crop them together to 256, mirror."""
    input_image = tf.image.resize(input_image, [286, 286], method=tf.image.ResizeMethod.NEAREST_NEIGHBOR)
    real_image = tf.image.resize(real_image, [286, 286], method=tf.image.ResizeMethod.NEAREST_NEIGHBOR)
    stacked = tf.stack([input_image, real_image], axis=0)
    cropped = tf.image.random_crop(stacked, size=[2, 256, 256, 3])
    input_image, real_image = cropped[0], cropped[1]
    if tf.random.uniform(()) > 0.5:
        input_image = tf.image.flip_left_right(input_image)
        real_image = tf.image.flip_left_right(real_image)
    return input_image, real_image


def load_aligned(path):
    """An A|B file -> (A, B) float32 [H, W/2, 3] in [0, 255] (the tutorial's `load`, input on the left here)."""
    image = tf.cast(tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False), tf.float32)
    half = tf.shape(image)[1] // 2
    return image[:, :half, :], image[:, half:, :]


def train_dataset(paths, seed: int = 0):
    """The tutorial's training pipeline on A|B files: jitter, [-1, 1], shuffle, batch 1, repeated."""
    def load_train(path):
        input_image, real_image = random_jitter(*load_aligned(path))
        return input_image / 127.5 - 1, real_image / 127.5 - 1

    dataset = tf.data.Dataset.from_tensor_slices(list(paths)).shuffle(len(paths), seed=seed)
    return dataset.map(load_train, num_parallel_calls=tf.data.AUTOTUNE).batch(1).repeat()


def translate(generator, image_uint8):
    """uint8 [256, 256, 3] -> uint8, batch norm on its running statistics (`training=False`)."""
    x = tf.cast(image_uint8, tf.float32)[None] / 127.5 - 1
    y = generator(x, training=False)[0]
    return tf.cast(tf.clip_by_value(tf.round((y + 1) * 127.5), 0, 255), tf.uint8).numpy()
