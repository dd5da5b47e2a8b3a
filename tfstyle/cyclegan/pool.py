"""`ImagePool`: the history of generated images shown to the discriminators, in TensorFlow state.

Shrivastava et al. 2017 ("Learning from Simulated and Unsupervised Images through Adversarial
Training", section 2.3) update the discriminator with a history of generated images rather
than only the latest ones; Zhu et al. 2017 (implementation details) keep the 50 last images. The rule, per
image, is the reference's (junyanz/pytorch-CycleGAN-and-pix2pix, `util/image_pool.py`):

* while fewer than `pool_size` images are stored: store the new image and return it;
* once full: with probability 1/2 return a uniformly chosen stored image and store the new
  one in its slot, else return the new image and leave the pool as it is.

Images of one batch go through the rule one after the other, so a later image of the batch
may be answered with an earlier one.

State lives in `tf.Variable`s (`buffer` float32 [pool_size, H, W, 3], `count` int64) and the
random decisions come from a `tf.random.Generator`, so the pool runs inside `tf.function`
(and XLA), is saved by `tf.train.Checkpoint` (the pool is a `tf.Module`; a pool-owned
generator is saved with it) and a resumed run makes the same decisions.

Under `tf.distribute` each replica has its own pool: the variables are created with
`synchronization=ON_READ`, so every replica reads and writes a private copy in replica
context (no cross-replica synchronisation on write, which a mirrored ON_WRITE variable would
demand). Reading them in cross-replica context, which is what a checkpoint save does, gives
replica 0's copy (`aggregation=ONLY_FIRST_REPLICA`), and a restore writes that copy to every
replica. So a checkpoint holds one pool per direction whatever the number of replicas, and
resume is exact on one replica; with several, all replicas restart from replica 0's history
(the pools are then statistically, not bitwise, the same as before the stop). A generator
created in the strategy scope gives every replica its own random stream (TF folds the
replica id into the key) from one saved state, so replicas make different decisions.
"""

from __future__ import annotations

import logging

import tensorflow as tf

logger = logging.getLogger(__name__)


class ImagePool(tf.Module):
    """History pool of `pool_size` images with the reference's 50/50 rule, held in TF variables.

    Create it where the models are created (inside `strategy.scope()` when distributed) and
    call it in the train step on each batch of generated images before the discriminator
    sees them. Every replica must call it the same number of times with the same per-replica
    batch size, so that the replicas' random streams stay in step.

    Args:
        pool_size: images kept (50 in the paper); 0 turns the pool off (images pass through).
        image_shape: (H, W, C) of the images, fixed for the pool's life.
        generator: `tf.random.Generator` for the decisions (e.g. the trainer's checkpointed
            one). None: the pool owns one made from `seed` (saved with the pool).
        seed: seed of the pool-owned generator; ignored when `generator` is given.
        name: the module's name.

    Attributes:
        buffer: float32 variable [pool_size, H, W, C]; slots >= count are zeros.
        count: int64 variable, number of filled slots (0 to pool_size).
        generator: the `tf.random.Generator` used.

    Raises:
        ValueError: pool_size < 0 or an image_shape that is not three positive sizes.
    """

    def __init__(
        self,
        pool_size: int = 50,
        image_shape: tuple[int, int, int] = (256, 256, 3),
        *,
        generator: tf.random.Generator | None = None,
        seed: int = 0,
        name: str | None = None,
    ):
        super().__init__(name=name)
        if pool_size < 0:
            raise ValueError(f"pool_size must be >= 0, got {pool_size}")
        image_shape = tuple(int(size) for size in image_shape)
        if len(image_shape) != 3 or min(image_shape) < 1:
            raise ValueError(f"image_shape must be (H, W, C) with positive sizes, got {image_shape}")
        self.pool_size = int(pool_size)
        self.image_shape = image_shape
        per_replica = {
            "trainable": False,
            "synchronization": tf.VariableSynchronization.ON_READ,
            "aggregation": tf.VariableAggregation.ONLY_FIRST_REPLICA,
        }
        self.buffer = tf.Variable(
            tf.zeros((self.pool_size, *image_shape), tf.float32), name="buffer", **per_replica
        )
        self.count = tf.Variable(tf.constant(0, tf.int64), name="count", **per_replica)
        self.generator = generator if generator is not None else tf.random.Generator.from_seed(seed)

    def __call__(self, images) -> tf.Tensor:
        """Passes a batch of images through the pool (see the module docstring for the rule).

        Args:
            images: float [B, H, W, C] (H, W, C = `image_shape`), e.g. a generator's output in
                [-1, 1]; stored as float32.

        Returns:
            [B, H, W, C] in the dtype of `images`: per image, the new image or a stored one.
            Images are returned as values (no gradient flows to the generator through stored
            ones, nor through new ones: the pool feeds the discriminator update only).

        Raises:
            ValueError: `images` has a static shape other than [B, *image_shape].
        """
        images = tf.convert_to_tensor(images)
        if images.shape.rank is not None and (
            images.shape.rank != 4 or not images.shape[1:].is_compatible_with(self.image_shape)
        ):
            expected = ", ".join(map(str, self.image_shape))
            raise ValueError(f"expected images of shape [B, {expected}], got {images.shape}")
        if self.pool_size == 0:
            return tf.stop_gradient(images)
        dtype = images.dtype
        images = tf.stop_gradient(tf.cast(images, tf.float32))
        batch = tf.shape(images, out_type=tf.int64)[0]
        # One integer draw per image, whatever the pool's state (so the generator's state depends
        # only on the number of images seen): uniform in [0, 2 pool_size), a swap with
        # probability 1/2 when below pool_size, and then a uniform slot. Integer draws are the
        # same with and without XLA (float ones are not).
        draws = self.generator.uniform([batch], minval=0, maxval=2 * self.pool_size, dtype=tf.int64)
        swap = draws < self.pool_size
        slots = draws % self.pool_size

        def step(index, buffer, count, outputs):
            image = images[index]
            filling = count < self.pool_size
            slot = tf.where(filling, count, slots[index])
            replace = tf.logical_and(tf.logical_not(filling), swap[index])
            stored = tf.gather(buffer, slot)
            # Filling: store the new image in the next slot and return it. Full: on a swap, return
            # the stored image and put the new one in its place; else return the new image and
            # leave the pool as it is.
            store = tf.logical_or(filling, replace)
            buffer = tf.tensor_scatter_nd_update(buffer, [[slot]], tf.where(store, image, stored)[None])
            outputs = outputs.write(tf.cast(index, tf.int32), tf.where(replace, stored, image))
            return index + 1, buffer, tf.where(filling, count + 1, count), outputs

        # The loop works on values and writes the variables once at the end: ON_READ variables
        # (see the module docstring) support `assign` in replica context but not `scatter_update`.
        outputs = tf.TensorArray(tf.float32, size=tf.cast(batch, tf.int32), element_shape=self.image_shape)
        _, buffer, count, outputs = tf.while_loop(
            lambda index, *_: index < batch,
            step,
            (tf.constant(0, tf.int64), self.buffer.read_value(), self.count.read_value(), outputs),
        )
        self.buffer.assign(buffer)
        self.count.assign(count)
        result = outputs.stack()
        result.set_shape(images.shape)
        return tf.cast(result, dtype)
