"""tf.data input pipelines for both paths: image folders, TFDS `cycle_gan`, resize / crop / flip.

* Style transfer (`content_batches`): content images resized to a common long side, batched only
  with images of the same resulting size (no padding, no cropping), float32 [0, 1].
* CycleGAN (`unpaired_dataset`): unpaired (A, B) batches as in the reference unaligned dataset of
  Zhu et al. 2017 (junyanz/pytorch-CycleGAN-and-pix2pix, `data/unaligned_dataset.py`), with the
  reference `resize_and_crop` + horizontal-flip augmentation, float32 [-1, 1].
* pix2pix (`paired_dataset`): (input, target) pairs from A|B files (`aligned_sources`, the reference's
  `data/aligned_dataset.py`) or two folders matched by name (`paired_folder_paths`), one augmentation per pair.

Every pixel is read through `tfstyle.images` (`read_image_uint8` / `decode_image_uint8`, wrapped in
`tf.numpy_function`) and every range change goes through `images.to_float` / `images.to_signed`.

Determinism and exact resume: an epoch of `unpaired_dataset` is a pure function of
(seed, epoch). The shuffled orders are computed up front with stateless random ops on small index
arrays, each example's crop and flip come from a stateless seed folded from (seed, epoch,
position in the epoch), and `skip_batches` slices the index arrays before anything is decoded. So
`unpaired_dataset(..., epoch=e, skip_batches=k)` yields exactly batches k, k+1, ... of epoch e, and
a trainer resumes mid-epoch by rebuilding the dataset from its step counter:

    steps = steps_per_epoch(len(paths_a), len(paths_b), batch_size)
    epoch, skip = divmod(step, steps)
    dataset = unpaired_dataset(paths_a, paths_b, batch_size=batch_size, seed=seed, epoch=epoch,
                               skip_batches=skip)
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import urllib.parse
from collections.abc import Callable, Sequence

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from tfstyle import images, options

logger = logging.getLogger(__name__)

AUTOTUNE = tf.data.AUTOTUNE

# Where TFDS' `cycle_gan` builder downloads its zip files from (tensorflow_datasets cycle_gan.py).
CYCLE_GAN_DOWNLOAD_URL = "https://efrosgans.eecs.berkeley.edu/cyclegan/datasets/"

# Stream ids folded into the (seed, epoch) key, one per independent random decision.
_ORDER_STREAM, _B_ORDER_STREAM, _AUGMENT_STREAM = 1, 2, 3
# Every stateless op here names its algorithm and runs on the CPU, so that an epoch is the same
# on any machine ("auto_select" would pick a different generator on TPU).
_RNG_ALG = "philox"


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


def folder_paths(directory: str | os.PathLike) -> list[str]:
    """Sorted image files directly inside `directory` (`images.list_images`).

    Raises:
        FileNotFoundError: no such folder.
        ValueError: the folder holds no image file.
    """
    return images.list_images(directory)


# EXIF orientations 5-8 turn the picture by 90 degrees: `read_image_uint8` then swaps H and W.
_EXIF_ORIENTATION = 0x0112
_TRANSPOSING_ORIENTATIONS = (5, 6, 7, 8)


def _header_orientation(image: Image.Image) -> int:
    """EXIF orientation (1-8) from what `Image.open` read, without decoding pixels.

    Pillow's PNG `getexif()` decodes the whole image when the header has no eXIf chunk (to look
    for one after the pixel data); a PNG with its eXIf chunk after the pixels is counted as
    unrotated here, a rare case.
    """
    if image.format == "PNG" and "exif" not in image.info:
        return 1
    return image.getexif().get(_EXIF_ORIENTATION, 1)


def validate_image_files(paths: Sequence[str | os.PathLike]) -> list[tuple[int, int]]:
    """Cheap up-front check that every path is an image file: reads only the headers.

    PIL's lazy `Image.open` identifies the format and size without decoding the pixels, so a
    CLI can reject a bad file in milliseconds before a long run starts. A file whose header is
    fine but whose pixel data is truncated passes here and fails when it is decoded (the error
    then also names the file).

    Args:
        paths: image files.

    Returns:
        (height, width) in pixels of each image as `images.read_image_uint8` will return it
        (EXIF rotation applied), in the order of `paths`.

    Raises:
        FileNotFoundError: a path does not exist (the message names it).
        ValueError: a path is a folder, empty, or not an image PIL can identify (the message
            names it); or `paths` is empty.
    """
    if len(paths) == 0:
        raise ValueError("no image files given")
    sizes = []
    for path in paths:
        path = images.check_file(path)
        try:
            with Image.open(path) as image:  # lazy: header only
                width, height = image.size
                orientation = _header_orientation(image)
        except UnidentifiedImageError:
            raise ValueError(f"not an image (cannot identify the format): {path}") from None
        except (OSError, SyntaxError, Image.DecompressionBombError) as error:
            raise ValueError(f"cannot read image header: {path}: {error}") from None
        if orientation in _TRANSPOSING_ORIENTATIONS:
            height, width = width, height
        sizes.append((height, width))
    return sizes


# ---------------------------------------------------------------------------------------------
# In-memory images (the TFDS source)
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class EncodedImages:
    """One domain's images held in memory, e.g. a TFDS split read with `SkipDecoding`.

    `unpaired_dataset` accepts this wherever it accepts a list of paths: both are indexed the
    same way, so the TFDS source gets the same order, augmentation and resume logic.

    Attributes:
        name: what error messages call this domain, e.g. "cycle_gan/horse2zebra/trainA".
        items: encoded image files (PNG / JPEG bytes), or already decoded uint8 [H, W, 3] (or
            [H, W, 1]) arrays, which some TFDS mocks yield even with `SkipDecoding`.
    """

    name: str
    items: tuple

    def __len__(self) -> int:
        return len(self.items)

    def read(self, index: int) -> np.ndarray:
        """Item `index` as uint8 [H, W, 3] RGB in [0, 255]."""
        item = self.items[index]
        if isinstance(item, bytes | np.bytes_):
            return images.decode_image_uint8(bytes(item), f"{self.name}[{index}]")
        array = np.asarray(item)
        if array.dtype != np.uint8 or array.ndim not in (2, 3):
            raise ValueError(f"{self.name}[{index}]: expected encoded bytes or a uint8 [H, W, C] image, "
                             f"got {array.dtype} {array.shape}")
        if array.ndim == 2:
            array = array[..., None]
        if array.shape[-1] == 1:
            array = np.repeat(array, 3, axis=-1)  # grayscale -> RGB, like read_image_uint8
        return array


@dataclasses.dataclass(frozen=True, eq=False)
class AlignedHalves:
    """One half of a folder of A|B images (the reference's aligned format, `data/aligned_dataset.py`).

    Each file holds the pair side by side; item i is the left (`side` 0) or right (`side` 1) half of
    file i, each `width // 2` px wide, as the reference splits it. `aligned_sources` checks the widths.

    Attributes:
        paths: the A|B image files.
        side: 0 for the left half, 1 for the right.
    """

    paths: tuple[str, ...]
    side: int

    def __len__(self) -> int:
        return len(self.paths)

    def read(self, index: int) -> np.ndarray:
        """Half `side` of file `index` as uint8 [H, W // 2, 3] RGB in [0, 255]."""
        image = images.read_image_uint8(self.paths[index])
        half = image.shape[1] // 2
        return np.ascontiguousarray(image[:, self.side * half:(self.side + 1) * half])


ImageSource = Sequence[str] | EncodedImages | AlignedHalves


def aligned_sources(directory: str | os.PathLike, direction: str = "AtoB") -> tuple[AlignedHalves, AlignedHalves]:
    """(inputs, targets) of a folder of A|B images: the left and right halves, swapped for "BtoA".

    Only headers are read. Raises ValueError naming the first file whose two halves cannot be equal (an
    odd width, or narrower than 2 px), and FileNotFoundError / ValueError as `folder_paths` and
    `validate_image_files` do.
    """
    if direction not in ("AtoB", "BtoA"):
        raise ValueError(f"direction must be AtoB or BtoA, got {direction!r}")
    paths = tuple(folder_paths(directory))
    for path, (_, width) in zip(paths, validate_image_files(paths), strict=True):
        if width < 2 or width % 2:
            raise ValueError(f"{path}: {width} px wide, so its A|B halves cannot be equal (an aligned image is two "
                             "equal halves side by side)")
    left, right = AlignedHalves(paths, 0), AlignedHalves(paths, 1)
    return (left, right) if direction == "AtoB" else (right, left)


def paired_folder_paths(directory_a: str | os.PathLike, directory_b: str | os.PathLike) -> tuple[list[str], list[str]]:
    """The images of two folders paired by file name without extension (`edges/cat.png` with `photos/cat.jpg`).

    Returns:
        (paths_a, paths_b) in the sorted order of A's names, equally long.

    Raises:
        FileNotFoundError: a folder does not exist.
        ValueError: a folder holds no image, two files of one folder share a name, or a file has no
            partner (the message names the first such file).
    """
    by_name = []
    for directory in (directory_a, directory_b):
        names: dict[str, str] = {}
        for path in folder_paths(directory):
            stem = os.path.splitext(os.path.basename(path))[0]
            if stem in names:
                raise ValueError(f"{names[stem]} and {path} share the name {stem!r}: a pair is matched by name")
            names[stem] = path
        by_name.append(names)
    names_a, names_b = by_name
    for names, other, directory in ((names_a, names_b, directory_b), (names_b, names_a, directory_a)):
        missing = sorted(set(names) - set(other))
        if missing:
            raise ValueError(f"{names[missing[0]]} has no partner named {missing[0]}.* in {os.fspath(directory)}"
                             + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    order = sorted(names_a)
    return [names_a[name] for name in order], [names_b[name] for name in order]


def _index_reader(source: ImageSource, domain: str) -> Callable[[np.ndarray], np.ndarray]:
    """index -> uint8 [H, W, 3], for `tf.numpy_function`."""
    if isinstance(source, EncodedImages | AlignedHalves):
        return lambda index: source.read(int(index))
    if isinstance(source, str | os.PathLike):
        raise ValueError(f"{domain}: expected a list of image paths or EncodedImages, got {source!r}")
    paths = [os.fspath(path) for path in source]
    return lambda index: images.read_image_uint8(paths[int(index)])


# ---------------------------------------------------------------------------------------------
# Data ops: each works eagerly and inside a tf.data map
# ---------------------------------------------------------------------------------------------


def read_image(path: tf.Tensor | str) -> tf.Tensor:
    """Reads an image file inside a graph (`images.read_image_uint8` via `tf.numpy_function`).

    Args:
        path: tf.string scalar.

    Returns:
        uint8 [H, W, 3] RGB in [0, 255], static shape [None, None, 3]. A file that fails to
        decode raises (when the op runs) an error whose message names the file.
    """

    def read(path_bytes) -> np.ndarray:  # bytes in graphs, a 0-d object array when eager
        return images.read_image_uint8(os.fsdecode(np.asarray(path_bytes).item()))

    image = tf.numpy_function(read, [path], tf.uint8, stateful=False, name="read_image")
    image.set_shape([None, None, 3])
    return image


def _read_indexed(read: Callable[[np.ndarray], np.ndarray], index: tf.Tensor, name: str) -> tf.Tensor:
    image = tf.numpy_function(read, [index], tf.uint8, stateful=False, name=name)
    image.set_shape([None, None, 3])
    return image


PREPROCESS = options.PREPROCESS


def preprocess_unpaired(image: tf.Tensor, seed: tf.Tensor | None = None, *, load_size: int = 286,
                        crop_size: int = 256, training: bool = True, preprocess: str = "resize_and_crop",
                        flip: bool = True) -> tf.Tensor:
    """The reference CycleGAN / pix2pix augmentation (`--preprocess`, `--no_flip`).

    Training, by `preprocess`: "resize_and_crop" resizes to load_size x load_size (bicubic,
    antialiased, aspect NOT kept, as the reference's `transforms.Resize([load_size, load_size],
    BICUBIC)`); "crop" keeps the image's own size (each side must be >= crop_size);
    "scale_width_and_crop" resizes to width load_size, aspect kept (height max(round(load_size * H / W),
    crop_size), the reference's `__scale_width`). Then a random crop_size x crop_size crop, and a
    left-right flip with probability 1/2 when `flip`. Not training: resize straight to crop_size x
    crop_size, no crop, no flip (the seed is ignored).

    Args:
        image: uint8 [H, W, 3] in [0, 255].
        seed: int32/int64 [2] stateless seed; required when training. The crop and the flip
            use two keys folded from it.
        load_size: side of the resized square before cropping, pixels.
        crop_size: side of the output, pixels (<= load_size when training).
        training: augment (True) or only resize (False).

    Returns:
        float32 [crop_size, crop_size, 3] in [-1, 1].
    """
    image = images.to_float(image)
    if not training:
        return images.to_signed(images.resize(image, (crop_size, crop_size)))
    if seed is None:
        raise ValueError("preprocess_unpaired: training=True needs a stateless seed")
    if preprocess not in PREPROCESS:
        raise ValueError(f"unknown preprocess {preprocess!r}: expected one of {', '.join(PREPROCESS)}")
    if preprocess != "crop" and crop_size > load_size:
        raise ValueError(f"crop_size {crop_size} is larger than load_size {load_size}")
    seed = tf.cast(seed, tf.int64)
    crop_seed = tf.random.experimental.stateless_fold_in(seed, 0, alg=_RNG_ALG)
    flip_seed = tf.random.experimental.stateless_fold_in(seed, 1, alg=_RNG_ALG)
    if preprocess == "resize_and_crop":
        image = images.resize(image, (load_size, load_size))
    elif preprocess == "scale_width_and_crop":
        shape = tf.cast(tf.shape(image), tf.float32)
        height = tf.maximum(tf.cast(tf.round(load_size * shape[0] / shape[1]), tf.int32), crop_size)
        image = images.resize(image, tf.stack([height, load_size]))
    image = tf.image.stateless_random_crop(image, (crop_size, crop_size, 3), seed=crop_seed)
    if flip:
        image = tf.image.stateless_random_flip_left_right(image, seed=flip_seed)
    return images.to_signed(image)


# ---------------------------------------------------------------------------------------------
# CycleGAN: unpaired (A, B) batches
# ---------------------------------------------------------------------------------------------


def steps_per_epoch(n_a: int, n_b: int, batch_size: int) -> int:
    """Batches in one epoch: max(|A|, |B|) // batch_size, at least 1.

    One epoch is max(|A|, |B|) examples, as in the reference; the last partial batch is dropped.
    When both domains hold fewer images than one batch, the epoch is one batch (images repeat).
    """
    if n_a < 1 or n_b < 1:
        raise ValueError(f"both domains need at least one image (got |A|={n_a}, |B|={n_b})")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return max(1, max(n_a, n_b) // batch_size)


def unpaired_indices(n_a: int, n_b: int, *, batch_size: int = 1, seed: int = 0, epoch: int = 0,
                     training: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Which A and which B image fill each example slot of one epoch.

    Training (the reference's unaligned dataset with a shuffling loader, N = max(|A|, |B|)):
    slot p takes A image `order[p mod N] mod |A|`, where `order` is a random permutation of
    range(N), so the shorter domain is cycled; and B image `order_b[p mod |B|]` with `order_b`
    an independent random permutation of range(|B|). Deviation from the reference: it draws B
    uniformly *with* replacement (`random.randint`); here every B image is used equally often
    (+-1) per epoch, which has the same distribution per draw and less variance.
    Not training (the reference's `serial_batches`): slot p takes A p mod |A| and B p mod |B|.

    Both permutations are stateless functions of (seed, epoch), computed on the CPU.

    Returns:
        (index_a, index_b): int64 [steps_per_epoch * batch_size] each.
    """
    steps = steps_per_epoch(n_a, n_b, batch_size)
    slots = np.arange(steps * batch_size, dtype=np.int64)
    if not training:
        return slots % n_a, slots % n_b
    n_max = max(n_a, n_b)
    with tf.device("/CPU:0"):
        key = tf.constant([seed, epoch], tf.int64)
        order_key = tf.random.experimental.stateless_fold_in(key, _ORDER_STREAM, alg=_RNG_ALG)
        b_key = tf.random.experimental.stateless_fold_in(key, _B_ORDER_STREAM, alg=_RNG_ALG)
        order = tf.random.experimental.stateless_shuffle(tf.range(n_max, dtype=tf.int64), order_key,
                                                         alg=_RNG_ALG).numpy()
        order_b = tf.random.experimental.stateless_shuffle(tf.range(n_b, dtype=tf.int64), b_key,
                                                           alg=_RNG_ALG).numpy()
    return order[slots % n_max] % n_a, order_b[slots % n_b]


def unpaired_dataset(paths_a: ImageSource, paths_b: ImageSource, *, load_size: int = 286,
                     crop_size: int = 256, batch_size: int = 1, seed: int = 0, epoch: int = 0,
                     skip_batches: int = 0, training: bool = True,
                     preprocess: str = "resize_and_crop", flip: bool = True,
                     input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
    """One epoch of unpaired CycleGAN batches, deterministic in (seed, epoch) and resumable.

    The epoch holds `steps_per_epoch(|A|, |B|, batch_size)` batches (max(|A|, |B|) // batch_size,
    at least 1; remainder dropped); `unpaired_indices` says which images fill it and
    `preprocess_unpaired` how they are augmented. Example p's crop and flip come from a stateless
    seed folded from (seed, epoch, p), so they do not depend on where the pipeline started.

    With `tf.distribute`, both ways below split each global batch, in order, across the replicas
    (checked on one machine with MirroredStrategy: the replicas' parts concatenate to the
    one-device batch):

    * `strategy.experimental_distribute_dataset(unpaired_dataset(..., batch_size=global))`: the
      strategy splits each global batch across replicas (auto-sharding is set to DATA: there are
      no files to shard, so in a multi-worker run each worker decodes every example);
    * `strategy.distribute_datasets_from_function(lambda context: unpaired_dataset(...,
      batch_size=global, input_context=context))`: each input pipeline (worker) reads and decodes
      only its own slice of every global batch, and yields per-replica batches. Better for
      multi-worker runs.

    Args:
        paths_a: domain A (the paper's X): image paths (`folder_paths`) or `EncodedImages`.
        paths_b: domain B (the paper's Y): likewise.
        load_size: square side images are resized to before the random crop, pixels.
        crop_size: side of the images yielded, pixels (the generator needs a multiple of 4).
        batch_size: global batch size.
        seed: the run's seed.
        epoch: zero-based epoch number; each epoch has its own order and augmentation.
        skip_batches: start the epoch at this batch (0 <= skip_batches <= steps); skipped
            examples are never read or decoded.
        training: augment and shuffle (True), or resize to crop_size in serial order (False).
        input_context: from `distribute_datasets_from_function`; None for a plain dataset.

    Returns:
        Dataset of (image_a, image_b), each float32 [batch_size, crop_size, crop_size, 3] in
        [-1, 1] (with `input_context`: [per-replica batch, ...]), prefetched.

    Raises:
        ValueError: a domain is empty, or a size, batch or skip is out of range.
    """
    n_a, n_b = len(paths_a), len(paths_b)
    if n_a == 0 or n_b == 0:
        raise ValueError(f"both domains need at least one image (got |A|={n_a}, |B|={n_b})")
    index_a, index_b = unpaired_indices(n_a, n_b, batch_size=batch_size, seed=seed, epoch=epoch,
                                        training=training)
    return _indexed_dataset([_index_reader(paths_a, "domain A"), _index_reader(paths_b, "domain B")],
                            [index_a, index_b], names=["read_image_a", "read_image_b"], load_size=load_size,
                            crop_size=crop_size, batch_size=batch_size, seed=seed, epoch=epoch,
                            skip_batches=skip_batches, training=training, input_context=input_context,
                            preprocess=preprocess, flip=flip)


def image_dataset(paths: ImageSource, *, load_size: int = 286, crop_size: int = 256, batch_size: int = 1,
                  seed: int = 0, epoch: int = 0, skip_batches: int = 0, training: bool = True,
                  input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
    """One epoch of batches of one image set (e.g. the content photos a feed-forward style network trains on).

    The same pipeline as `unpaired_dataset`, with one domain: an epoch is `len(paths) // batch_size`
    batches (at least 1) in a random order that is a stateless function of (seed, epoch), each image
    augmented by `preprocess_unpaired` (resize to load_size, random crop_size crop, random flip) with a
    seed folded from (seed, epoch, position), so that a resume at `skip_batches` is exact; distributed
    the same two ways.

    Returns:
        Dataset of float32 [batch_size, crop_size, crop_size, 3] in [-1, 1] (with `input_context`:
        [per-replica batch, ...]), prefetched.

    Raises:
        ValueError: no images, or a size, batch or skip out of range.
    """
    if len(paths) == 0:
        raise ValueError("no images to train on")
    index, _ = unpaired_indices(len(paths), len(paths), batch_size=batch_size, seed=seed, epoch=epoch,
                                training=training)  # one domain: A's order is a permutation per epoch
    return _indexed_dataset([_index_reader(paths, "images")], [index], names=["read_image"], load_size=load_size,
                            crop_size=crop_size, batch_size=batch_size, seed=seed, epoch=epoch,
                            skip_batches=skip_batches, training=training, input_context=input_context)


def paired_dataset(inputs: ImageSource, targets: ImageSource, *, load_size: int = 286, crop_size: int = 256,
                   batch_size: int = 1, seed: int = 0, epoch: int = 0, skip_batches: int = 0, training: bool = True,
                   input_context: tf.distribute.InputContext | None = None, preprocess: str = "resize_and_crop",
                   flip: bool = True) -> tf.data.Dataset:
    """One epoch of paired (input, target) batches for pix2pix, deterministic in (seed, epoch) and resumable.

    The reference's aligned dataset: an epoch is every pair once (len // batch_size batches, at least 1)
    in a random order that is a stateless function of (seed, epoch); both images of a pair get the SAME
    augmentation (`preprocess_unpaired` with one seed: resize to load_size, one crop position, one flip),
    so they stay aligned pixel for pixel. Distributed and resumed as `unpaired_dataset`.

    Args:
        inputs, targets: equally long image sources (paths, `EncodedImages` or `AlignedHalves`); item i of
            each is one pair.
        Others: as `unpaired_dataset`.

    Returns:
        Dataset of (input, target), each float32 [batch_size, crop_size, crop_size, 3] in [-1, 1].

    Raises:
        ValueError: no pairs, sources of different lengths, or a size, batch or skip out of range.
    """
    if len(inputs) == 0 or len(inputs) != len(targets):
        raise ValueError(f"need as many targets as inputs, at least one (got {len(inputs)} and {len(targets)})")
    index, _ = unpaired_indices(len(inputs), len(inputs), batch_size=batch_size, seed=seed, epoch=epoch,
                                training=training)
    return _indexed_dataset([_index_reader(inputs, "inputs"), _index_reader(targets, "targets")], [index, index],
                            names=["read_input", "read_target"], load_size=load_size, crop_size=crop_size,
                            batch_size=batch_size, seed=seed, epoch=epoch, skip_batches=skip_batches,
                            training=training, input_context=input_context, paired=True, preprocess=preprocess,
                            flip=flip)


def _indexed_dataset(readers: Sequence[Callable[[np.ndarray], np.ndarray]], indices: Sequence[np.ndarray], *,
                     names: Sequence[str], load_size: int, crop_size: int, batch_size: int, seed: int, epoch: int,
                     skip_batches: int, training: bool,
                     input_context: tf.distribute.InputContext | None, paired: bool = False,
                     preprocess: str = "resize_and_crop", flip: bool = True) -> tf.data.Dataset:
    """The pipeline behind `unpaired_dataset`, `paired_dataset` and `image_dataset`: example slot p reads image
    indices[d][p] of each domain d, augments it with a seed folded from (seed, epoch, p, d) (from (seed, epoch,
    p) alone when `paired`: one crop and flip for every domain), and the slots are batched.

    Yields a tuple of one batch per domain, or the batch itself for one domain.
    """
    if crop_size < 1 or load_size < 1:
        raise ValueError(f"load_size and crop_size must be positive (got {load_size}, {crop_size})")
    if training and preprocess != "crop" and crop_size > load_size:
        raise ValueError(f"crop_size {crop_size} is larger than load_size {load_size}")
    steps = len(indices[0]) // batch_size
    if not 0 <= skip_batches <= steps:
        raise ValueError(f"skip_batches must be in [0, {steps}] (steps per epoch), got {skip_batches}")
    positions = np.arange(len(indices[0]), dtype=np.int64)[skip_batches * batch_size:]
    output_batch = batch_size
    if input_context is not None:
        # Global batch s is positions [s * B, (s + 1) * B); pipeline i of k takes the i-th of its k
        # equal slices, and the strategy hands consecutive per-replica batches to its local replicas.
        pipelines, pipeline = input_context.num_input_pipelines, input_context.input_pipeline_id
        output_batch = input_context.get_per_replica_batch_size(batch_size)
        if batch_size % pipelines:
            raise ValueError(f"batch_size {batch_size} is not divisible by {pipelines} input pipelines")
        positions = positions.reshape(-1, pipelines, batch_size // pipelines)[:, pipeline].reshape(-1)
    with tf.device("/CPU:0"):
        augment_key = tf.random.experimental.stateless_fold_in(
            tf.constant([seed, epoch], tf.int64), _AUGMENT_STREAM, alg=_RNG_ALG)

    def load(position, *domain_indices):
        example_key = tf.random.experimental.stateless_fold_in(augment_key, position, alg=_RNG_ALG)
        loaded = []
        for domain, (read, index, name) in enumerate(zip(readers, domain_indices, names, strict=True)):
            image = _read_indexed(read, index, name=name)
            seed_domain = (example_key if paired
                           else tf.random.experimental.stateless_fold_in(example_key, domain, alg=_RNG_ALG))
            loaded.append(preprocess_unpaired(image, seed_domain, load_size=load_size, crop_size=crop_size,
                                              training=training, preprocess=preprocess, flip=flip))
        return tuple(loaded) if len(loaded) > 1 else loaded[0]

    dataset = tf.data.Dataset.from_tensor_slices((positions, *(index[positions] for index in indices)))
    dataset = dataset.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
    dataset = dataset.batch(output_batch, drop_remainder=True).prefetch(AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = True
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA if input_context is None
        else tf.data.experimental.AutoShardPolicy.OFF)  # already sharded above
    return dataset.with_options(options)


# ---------------------------------------------------------------------------------------------
# CycleGAN: TFDS source
# ---------------------------------------------------------------------------------------------


def host_reachable(url: str, timeout: float = 5.0) -> bool:
    """True when a TCP connection to `url`'s host and port opens within `timeout` seconds.

    Name resolution and connect run in a daemon thread, so even a hanging DNS lookup costs at
    most `timeout` seconds.
    """
    parsed = urllib.parse.urlparse(url)
    host = parsed.hostname
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if not host:
        return False
    result = []

    def connect():
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=connect, daemon=True, name="tfstyle-reachability")
    thread.start()
    thread.join(timeout)
    return bool(result)


def cycle_gan_configs() -> list[str]:
    """Names of the TFDS `cycle_gan/<config>` datasets (horse2zebra, monet2photo, ...)."""
    import tensorflow_datasets as tfds

    return list(tfds.builder_cls("cycle_gan").builder_configs)


def _cycle_gan_name(name: str) -> str:
    """"cycle_gan/horse2zebra[:3.0.0]" or "horse2zebra" -> "cycle_gan/horse2zebra[:3.0.0]"."""
    configs = cycle_gan_configs()
    family, _, config = name.partition("/")
    if not config:
        family, config = "cycle_gan", family
    if family != "cycle_gan" or config.partition(":")[0] not in configs:
        raise ValueError(f"unknown TFDS dataset {name!r}: use cycle_gan/<config> with config one of "
                         f"{', '.join(configs)}")
    return f"cycle_gan/{config}"


def tfds_unpaired(name: str, data_dir: str | None = None, split: str = "train", download: bool = True, *,
                  probe: Callable[[str], bool] = host_reachable) -> tuple[EncodedImages, EncodedImages]:
    """Both domains of a TFDS `cycle_gan/<config>` dataset, as encoded images in memory.

    Reads splits `<split>A` and `<split>B` with `SkipDecoding` (the JPEG bytes, a few tens of MB
    for horse2zebra), so `unpaired_dataset` can index, shuffle, skip and augment them exactly as
    it does image folders.

    Never waits on TFDS' offline retries (~200 s): when the dataset is not prepared in
    `data_dir`, it first checks (`probe`, <= 5 s) that the download host answers, and otherwise
    raises at once, saying how to provide the data.

    Args:
        name: "cycle_gan/<config>" (e.g. "cycle_gan/horse2zebra") or just "<config>".
        data_dir: TFDS data folder; None for TFDS' default (~/tensorflow_datasets or
            $TFDS_DATA_DIR).
        split: "train" or "test".
        download: download and prepare the dataset when it is not prepared.
        probe: url -> whether it can be reached; injectable for tests.

    Returns:
        (images_a, images_b), arguments for `unpaired_dataset`; `len()` gives |A| and |B|.

    Raises:
        ValueError: not a cycle_gan config (the message lists them), or a bad split.
        FileNotFoundError: not prepared in `data_dir`, and download is off or impossible.
    """
    import tensorflow_datasets as tfds

    full_name = _cycle_gan_name(name)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    builder = tfds.builder(full_name, data_dir=data_dir)
    if not builder.is_prepared():
        config = full_name.split("/")[1].partition(":")[0]
        how = (f"on a machine with internet run `tfds build cycle_gan/{config} --data_dir DIR`, copy DIR "
               f"here and pass --data_dir DIR; or train on two image folders with --domain_a/--domain_b")
        where = f"TFDS dataset {full_name} is not prepared in {builder.data_dir_root}"
        if not download:
            raise FileNotFoundError(f"{where} and download is off: {how}")
        host = urllib.parse.urlparse(CYCLE_GAN_DOWNLOAD_URL).hostname
        if not probe(CYCLE_GAN_DOWNLOAD_URL):
            raise FileNotFoundError(f"{where} and its download host {host} cannot be reached: {how}")
        logger.info("downloading and preparing %s into %s", full_name, builder.data_dir_root)
        builder.download_and_prepare()
    return tuple(_read_split(tfds, builder, full_name, f"{split}{domain}") for domain in "AB")


def tfds_images(name: str, data_dir: str | None = None, split: str = "train", download: bool = True) -> EncodedImages:
    """The `image` feature of one split of any TFDS image dataset (e.g. "coco/2017"), encoded, in memory.

    The source `image_dataset` takes for content photos. A dataset that is not prepared in `data_dir` is
    downloaded and prepared when `download` is on (TFDS' own download: hours for COCO; a machine with
    no internet fails in TFDS with its own message), else refused at once.

    Raises:
        FileNotFoundError: not prepared and `download` is off.
        ValueError: no such split, or it holds no images.
    """
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared():
        if not download:
            raise FileNotFoundError(f"TFDS dataset {name} is not prepared in {builder.data_dir_root} and download "
                                    f"is off: run `tfds build {name} --data_dir DIR` and pass --data_dir DIR, "
                                    "or train on a folder of photos")
        logger.info("downloading and preparing %s into %s", name, builder.data_dir_root)
        builder.download_and_prepare()
    return _read_split(tfds, builder, name, split)


def _read_split(tfds, builder, full_name: str, split: str) -> EncodedImages:
    """All `image` features of one split, in file order, as `EncodedImages`."""
    try:
        dataset = builder.as_dataset(split=split, shuffle_files=False,
                                     decoders={"image": tfds.decode.SkipDecoding()})
    except (KeyError, ValueError) as error:
        raise ValueError(f"{full_name} has no split {split!r}: {error}") from None
    items = []
    for example in dataset.as_numpy_iterator():
        image = example["image"]
        items.append(bytes(image) if isinstance(image, bytes | np.bytes_) else np.asarray(image))
    if not items:
        raise ValueError(f"{full_name} split {split!r} holds no images")
    logger.info("%s %s: %d images", full_name, split, len(items))
    return EncodedImages(name=f"{full_name}/{split}", items=tuple(items))


# ---------------------------------------------------------------------------------------------
# Style transfer: content images batched by size
# ---------------------------------------------------------------------------------------------


def content_batches(paths: Sequence[str | os.PathLike], long_side: int | None,
                    batch_size: int) -> tf.data.Dataset:
    """Content images resized to a common long side, batched only with images of the same size.

    Each image is resized (bicubic, antialiased, aspect kept, `images.resize_long_side`) so that
    max(H, W) == long_side, then grouped by its resulting (H, W) with `group_by_window`: nothing
    is padded or cropped. Order is deterministic: a batch is emitted as soon as batch_size images
    of one size have arrived (in `paths` order), then the partial batch of every size that is
    left, in increasing (H, W). Call `validate_image_files(paths)` first for a clean error; a
    file that still fails to decode raises while iterating, naming the file.

    Args:
        paths: image files.
        long_side: target long side in pixels; None keeps every image at its own size.
        batch_size: at most this many images per batch.

    Returns:
        Dataset of (paths: tf.string [b], images: float32 [b, H, W, 3] in [0, 1]), 1 <= b <=
        batch_size, H and W constant within a batch.
    """
    if len(paths) == 0:
        raise ValueError("no content images given")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if long_side is not None and long_side < 1:
        raise ValueError(f"long_side must be >= 1, got {long_side}")

    def load(path):
        image = images.to_float(read_image(path))
        if long_side is not None:
            image = images.resize_long_side(image, long_side)
        return path, image

    def size_key(path, image):
        shape = tf.shape(image, out_type=tf.int64)
        return shape[0] * (1 << 31) + shape[1]  # (H, W) -> one int64; sorts like the pair

    dataset = tf.data.Dataset.from_tensor_slices(tf.constant([os.fspath(p) for p in paths], tf.string))
    dataset = dataset.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
    dataset = dataset.group_by_window(size_key, lambda key, window: window.batch(batch_size),
                                      window_size=batch_size)
    return dataset.prefetch(AUTOTUNE)
