"""The reference's generator `state_dict`s in Keras: key names, layouts and checks, without torch.

junyanz/pytorch-CycleGAN-and-pix2pix saves each generator as `latest_net_G.pth` (pix2pix; `G_A`, `G_B` for
CycleGAN): `torch.save(net.state_dict())`, a flat dict from module paths to tensors, read here by
`tfstyle.weights.read_torch_file` (zip or legacy format, a restricted unpickler). Its networks are
`nn.Sequential`s, so a key names a module by its index:

* `ResnetGenerator` (`resnet_<n>blocks`): `model.1` c7s1 conv, `model.2` its norm, `model.4`/`model.5` and
  `model.7`/`model.8` the two stride-2 convs and norms, `model.<10 + j>.conv_block.{1,2,5,6}` residual block j
  (conv, norm, conv, norm; `.6`/`.7` for the second pair with dropout, which takes index 4), then the two
  transposed convs at `model.<10 + n>`, `model.<13 + n>` (norms one index later) and the output conv at
  `model.<17 + n>`;
* `UnetGenerator` (`unet_<2 ** k>`): nested `UnetSkipConnectionBlock`s, level 1 (outermost) at `model.`,
  level 2 at `model.model.1.`, each deeper one at its parent's prefix + `model.3.`; inside a block
  `model.0` (outermost) or `model.1` is the down conv, `model.2` its norm, `model.3` (outermost, innermost)
  or `model.5` the transposed conv and the next index its norm.

A norm's index is there whatever `--norm` is (`nn.Identity` for "none"), so only the tensors differ: batch
norm has `weight`, `bias`, `running_mean`, `running_var` (and `num_batches_tracked`, ignored); instance norm
(`affine=False`) has none, but files written before PyTorch 0.4 carry `running_mean`/`running_var` for it,
which the reference deletes on load and so does this module.

Layouts: `Conv2d.weight` is (out, in, kh, kw) and Keras keeps (kh, kw, in, out); `ConvTranspose2d.weight` is
(in, out, kh, kw) and Keras's `Conv2DTranspose` kernel (kh, kw, out, in): both are `transpose(2, 3, 1, 0)`,
with no kernel flip (both frameworks compute the adjoint of the same cross-correlation).

`ImportArgs` and `import_run` are the `import_torch` command's flags and work (this module defines no flags, so
other commands and the tests can import it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os

import numpy as np

from tfstyle import files, geometry, options

# Keys the reference's loader drops (`__patch_instance_norm_state_dict`) or that hold no weights.
_NORM_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")


@dataclasses.dataclass(frozen=True)
class Slot:
    """One Keras layer with weights and the torch module that holds them.

    Attributes:
        layer: the Keras layer's name in `tfstyle.cyclegan.models`' builders, e.g. "d128" or "up3_norm".
        module: the torch module path, e.g. "model.4" (its tensors are `<module>.weight`, ...).
        kind: "conv", "conv_transpose" or "batch_norm".
        bias: whether the conv has a bias (always True for batch norm).
    """

    layer: str
    module: str
    kind: str
    bias: bool = True

    def keys(self) -> list[str]:
        """The state_dict keys this slot reads, in the order of the Keras layer's weights."""
        names = ("weight", "bias", "running_mean", "running_var") if self.kind == "batch_norm" else (
            ("weight", "bias") if self.bias else ("weight",))
        return [f"{self.module}.{name}" for name in names]


def _norm_slot(layer: str, module: str, norm: str) -> list[Slot]:
    return [Slot(layer, module, "batch_norm")] if norm == "batch" else []


def resnet_slots(n_blocks: int, ngf: int, norm: str, dropout: bool) -> list[Slot]:
    """The slots of `models.build_resnet_generator(n_blocks, ngf, norm=norm, dropout=dropout)`, in network order."""
    bias = norm == "instance"
    slots = [Slot(f"c7s1_{ngf}", "model.1", "conv", bias), *_norm_slot(f"c7s1_{ngf}_norm", "model.2", norm)]
    filters = ngf
    for index in (4, 7):
        filters *= 2
        slots += [Slot(f"d{filters}", f"model.{index}", "conv", bias),
                  *_norm_slot(f"d{filters}_norm", f"model.{index + 1}", norm)]
    second = 6 if dropout else 5  # nn.Dropout takes index 4 of the block's Sequential
    for block in range(n_blocks):
        name, module = f"r{filters}_{block + 1}", f"model.{10 + block}.conv_block"
        slots += [Slot(f"{name}_conv1", f"{module}.1", "conv", bias), *_norm_slot(f"{name}_norm1", f"{module}.2", norm),
                  Slot(f"{name}_conv2", f"{module}.{second}", "conv", bias),
                  *_norm_slot(f"{name}_norm2", f"{module}.{second + 1}", norm)]
    for index in (10 + n_blocks, 13 + n_blocks):
        filters //= 2
        slots += [Slot(f"u{filters}", f"model.{index}", "conv_transpose", bias),
                  *_norm_slot(f"u{filters}_norm", f"model.{index + 1}", norm)]
    return slots + [Slot("c7s1_3", f"model.{17 + n_blocks}", "conv")]


def unet_slots(num_downs: int, norm: str) -> list[Slot]:
    """The slots of `models.build_unet_generator(num_downs, norm=norm)`, in the state_dict's order."""
    bias = norm == "instance"
    prefixes = ["model."]
    for level in range(2, num_downs + 1):
        prefixes.append(prefixes[-1] + ("model.1." if level == 2 else "model.3."))
    downs, ups = [], []  # per level: the down conv (and norm), the up conv (and norm)
    for level, prefix in enumerate(prefixes, start=1):
        block = prefix + "model."
        if level == 1:
            downs.append([Slot("down1", f"{block}0", "conv", bias)])
            ups.append([Slot("up1", f"{block}3", "conv_transpose", True)])
            continue
        up = 3 if level == num_downs else 5  # the innermost block has no submodule (index 3)
        downs.append([Slot(f"down{level}", f"{block}1", "conv", bias)]
                     + ([] if level == num_downs else _norm_slot(f"down{level}_norm", f"{block}2", norm)))
        ups.append([Slot(f"up{level}", f"{block}{up}", "conv_transpose", bias),
                    *_norm_slot(f"up{level}_norm", f"{block}{up + 1}", norm)])
    # A block's keys: its down conv (and norm), the inner block's, then its up conv (and norm).
    return [slot for level in downs + ups[::-1] for slot in level]


def generator_slots(name: str, ngf: int, norm: str, dropout: bool) -> list[Slot]:
    """The slots of `models.build_generator(name, ngf, norm=norm, dropout=dropout)`.

    Raises:
        ValueError: an unknown generator name or norm.
    """
    kind, depth = geometry.parse_generator(name)
    if norm not in geometry.NORMS:
        raise ValueError(f"unknown norm {norm!r}: expected one of {', '.join(geometry.NORMS)}")
    return resnet_slots(depth, ngf, norm, dropout) if kind == "resnet" else unet_slots(depth, norm)


def clean_state_dict(state: dict[str, np.ndarray], norm: str) -> dict[str, np.ndarray]:
    """`state` without a `module.` prefix (nn.DataParallel) and, under instance norm, without the norm
    statistics old files carry; `num_batches_tracked` (an int64 counter) is always dropped."""
    cleaned = {}
    for key, value in state.items():
        key = key[len("module."):] if key.startswith("module.") else key
        leaf = key.rsplit(".", 1)[-1]
        if leaf == "num_batches_tracked" or (norm != "batch" and leaf in _NORM_STATISTICS):
            continue
        cleaned[key] = value
    return cleaned


def _to_keras(slot: Slot, key: str, tensor: np.ndarray) -> np.ndarray:
    if slot.kind in ("conv", "conv_transpose") and key.endswith(".weight"):
        return np.ascontiguousarray(tensor.transpose(2, 3, 1, 0))  # OIHW / IOHW -> HWIO / HWOI
    return tensor


def _shape(shape) -> str:
    return "(" + ", ".join(str(int(s)) for s in shape) + ")"


def map_state_dict(state: dict[str, np.ndarray], slots: list[Slot],
                   expected: dict[str, list[tuple[int, ...]]], what: str) -> dict[str, list[np.ndarray]]:
    """The Keras weights of each slot's layer from a cleaned state_dict (`clean_state_dict`).

    Args:
        state: {key: float array} in PyTorch layouts.
        slots: `generator_slots(...)` of the architecture the user named.
        expected: {Keras layer name: the shapes of its weights}, from the built Keras model.
        what: how the error messages name the architecture, e.g. "--netG unet_256 --ngf 64 --norm batch".

    Returns:
        {Keras layer name: its weights, in `layer.set_weights` order}, float32.

    Raises:
        ValueError: naming the first key, in the network's order, that is missing or has another shape than
            `what` needs, or else the first key of the file that `what` does not have.
    """
    weights, used = {}, set()
    for slot in slots:
        arrays = []
        for key, shape in zip(slot.keys(), expected[slot.layer], strict=True):
            if key not in state:
                raise ValueError(f"the file has no key {key!r}, which {what} needs (layer {slot.layer}): "
                                 "is it a generator of that architecture?")
            array = _to_keras(slot, key, np.asarray(state[key]))
            if tuple(array.shape) != tuple(shape):
                torch_shape = _shape(np.asarray(state[key]).shape)
                wanted = _shape(shape if array.ndim != 4 else np.asarray(shape)[[3, 2, 0, 1]])
                raise ValueError(f"key {key!r} has shape {torch_shape}, but {what} needs {wanted} there "
                                 "(check --netG, --ngf, --norm, --no_dropout and the channel counts)")
            if not np.issubdtype(array.dtype, np.floating):
                raise ValueError(f"key {key!r} holds {array.dtype} values, not floats")
            arrays.append(array.astype(np.float32))
            used.add(key)
        weights[slot.layer] = arrays
    extra = [key for key in state if key not in used]
    if extra:
        raise ValueError(f"the file has key {extra[0]!r}, which {what} does not have "
                         f"({len(extra)} unexpected key(s)): is it a generator of that architecture?")
    return weights


@dataclasses.dataclass(frozen=True)
class Architecture:
    """A generator as `models.build_generator` takes it, read off a state_dict's keys by `infer_architecture`."""

    generator: str
    ngf: int
    norm: str
    dropout: bool
    input_nc: int
    output_nc: int

    def describe(self) -> str:
        return f"--netG {self.generator} --ngf {self.ngf} --norm {self.norm}"


def infer_architecture(state: dict[str, np.ndarray]) -> Architecture:
    """The architecture whose `generator_slots` a cleaned state_dict fills, read off its keys and shapes.

    U-Net if it has `model.model.0.weight` (levels counted down the nested blocks), ResNet if `model.1.weight`
    (residual blocks counted from `model.10`); ngf and the channel counts are the first and last convs' shapes;
    the norm is "instance" when convs have biases, else "batch" when the norms have weights, else "none"; a
    ResNet file has dropout when its blocks' second conv sits at index 6. `dropout` is False for a U-Net (its
    keys do not tell; it only matters for training).

    Raises:
        ValueError: the keys are not those of a reference generator.
    """
    if "model.model.0.weight" in state:
        levels, prefix = 1, "model.model.1."
        while f"{prefix}model.1.weight" in state:
            levels, prefix = levels + 1, prefix + "model.3."
        first, last = state["model.model.0.weight"], state.get("model.model.3.weight")
        has_bias = "model.model.0.bias" in state
        has_norm_weights = "model.model.1.model.2.weight" in state
        generator, dropout = f"unet_{2 ** levels}", False
        output_nc = None if last is None else last.shape[1]  # ConvTranspose2d: (in, out, kh, kw)
    elif "model.1.weight" in state:
        blocks = 0
        while f"model.{10 + blocks}.conv_block.1.weight" in state:
            blocks += 1
        first, last = state["model.1.weight"], state.get(f"model.{17 + blocks}.weight")
        has_bias = "model.1.bias" in state
        has_norm_weights = "model.2.weight" in state
        generator, dropout = f"resnet_{blocks}blocks", "model.10.conv_block.6.weight" in state
        output_nc = None if last is None else last.shape[0]  # Conv2d: (out, in, kh, kw)
    else:
        key = next(iter(state), None)
        raise ValueError("not a generator of pytorch-CycleGAN-and-pix2pix: no model.1.weight (ResNet) or "
                         f"model.model.0.weight (U-Net) key; the first key is {key!r}")
    if np.ndim(first) != 4:
        raise ValueError(f"the first conv's weight has shape {_shape(np.shape(first))}, not (out, in, kh, kw)")
    norm = "instance" if has_bias else ("batch" if has_norm_weights else "none")
    return Architecture(generator, int(first.shape[0]), norm, dropout, int(first.shape[1]),
                        int(output_nc) if output_nc is not None else 3)


# -- the command's flags and the run folder it writes (`python -m tfstyle.cyclegan.import_torch`) --------------

MODELS = ("auto", "cyclegan", "pix2pix")


@dataclasses.dataclass(frozen=True)
class ImportArgs:
    """Flags of `python -m tfstyle.cyclegan.import_torch FILE.pth` (FILE: the A -> B generator's state_dict)."""

    model_dir: str = options.option("", "new run folder to write (required)")
    b2a: str = options.option("", "CycleGAN: the B -> A generator's file too (latest_net_G_B.pth)")
    generator: str = options.option("auto", "the file's generator: auto (read off its keys), resnet_9blocks, "
                                            "resnet_6blocks, unet_256, unet_128, ...", aliases=("netG",))
    ngf: int = options.option(0, "filters of its first conv (0: read off the file)")
    norm: str = options.option("auto", "its --norm (auto: read off the file)", ("auto",) + geometry.NORMS)
    no_dropout: bool = options.option(False, "U-Net trained with --no_dropout (recorded in config.json; a "
                                             "ResNet file tells by its keys)")
    model: str = options.option("auto", "the run folder's kind: auto (pix2pix for a U-Net, else CycleGAN)",
                                MODELS)

    def validate(self, paths: list[str]) -> None:
        if len(paths) != 1:
            raise ValueError("give one .pth file (the A -> B generator; --b2a for the other), got "
                             f"{len(paths) or 'none'}")
        if not self.model_dir:
            raise ValueError("--model_dir is required (a new run folder)")
        if os.path.exists(self.model_dir):
            raise ValueError(f"--model_dir {self.model_dir} exists already: give a new folder")
        if self.ngf < 0:
            raise ValueError(f"--ngf must be >= 0 (0: read off the file), got {self.ngf}")
        if self.generator != "auto":
            geometry.parse_generator(self.generator)
        if self.model == "pix2pix" and self.b2a:
            raise ValueError("a pix2pix run has one generator: --b2a is for CycleGAN")
        for path in (*paths, self.b2a):
            if path and not os.path.isfile(path):
                raise FileNotFoundError(f"no such file: {path}")


def _read(path: str):
    from tfstyle.weights import read_torch_file

    with open(path, "rb") as file:
        data = file.read()
    try:
        return read_torch_file(data), hashlib.sha256(data).hexdigest()
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def _architecture(args: ImportArgs, state, path: str):
    found = infer_architecture(state)
    chosen = dataclasses.replace(
        found,
        generator=found.generator if args.generator == "auto" else args.generator,
        ngf=args.ngf or found.ngf,
        norm=found.norm if args.norm == "auto" else args.norm,
        dropout=found.dropout if found.generator.startswith("resnet") else not args.no_dropout,
    )
    if (found.input_nc, found.output_nc) != (3, 3):
        raise ValueError(f"{path} maps {found.input_nc} to {found.output_nc} channels: only RGB -> RGB "
                         "generators (--input_nc 3 --output_nc 3) can be imported")
    return chosen


def load_weights(generator, state, architecture, path: str) -> None:
    """Sets `generator`'s weights from the torch `state` (cleaned); ValueError naming the first bad key."""
    state = clean_state_dict(state, architecture.norm)
    slots = generator_slots(architecture.generator, architecture.ngf, architecture.norm,
                                         architecture.dropout)
    expected = {layer.name: [tuple(w.shape) for w in layer.weights] for layer in generator.layers if layer.weights}
    missing = set(expected) - {slot.layer for slot in slots}
    if missing:  # the slots and the builder disagree: a bug here, not in the file
        raise RuntimeError(f"no torch key is mapped to layer(s) {sorted(missing)}")
    try:
        weights = map_state_dict(state, slots, expected, architecture.describe())
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    for name, arrays in weights.items():
        generator.get_layer(name).set_weights(arrays)


def import_run(args: ImportArgs, path: str) -> str:
    """Writes the run folder `args.model_dir` from `path` (and `args.b2a`); returns the folder.

    Raises:
        ValueError / FileNotFoundError: a bad file or flag; nothing is written.
    """
    args.validate([path])
    sources = [(path, "generator_ab")] + ([(args.b2a, "generator_ba")] if args.b2a else [])
    states = {}
    for source, attribute in sources:
        state, digest = _read(source)
        states[attribute] = (source, clean_state_dict(state, "batch"), digest)
    architecture = _architecture(args, states["generator_ab"][1], path)
    kind = args.model if args.model != "auto" else (
        "pix2pix" if architecture.generator.startswith("unet") else "cyclegan")
    if kind == "pix2pix" and args.b2a:
        raise ValueError("a pix2pix run has one generator: --b2a is for CycleGAN (a U-Net file imports as "
                         "pix2pix; give --model cyclegan to keep both)")

    import tensorflow as tf

    from tfstyle.cyclegan import config as config_lib
    from tfstyle.cyclegan import models
    from tfstyle.pix2pix import config as pix2pix_config
    from tfstyle.training import rundir

    config_cls, task = ((pix2pix_config.Pix2PixConfig, pix2pix_config.TASK) if kind == "pix2pix"
                        else (config_lib.TrainConfig, config_lib.TASK))
    config = config_cls(model_dir=os.path.abspath(args.model_dir), generator=architecture.generator,
                        ngf=architecture.ngf, norm=architecture.norm, no_dropout=not architecture.dropout)
    generators = {}
    for attribute, (source, state, _) in states.items():
        generator = models.generator_from_config(config, attribute)
        load_weights(generator, state, architecture, source)
        generators[attribute] = generator

    provenance = {
        "architecture": dataclasses.asdict(architecture),
        "sources": {attribute: {"file": os.path.basename(source), "sha256": digest}
                    for attribute, (source, _, digest) in states.items()},
        "from": "junyanz/pytorch-CycleGAN-and-pix2pix state_dict, imported by tfstyle.cyclegan.import_torch",
    }
    with files.staged_dir(args.model_dir) as staging:
        run_dir = rundir.RunDir(staging)
        run_dir.save_config(config, task=task)
        checkpoint = tf.train.Checkpoint(**generators)
        tf.train.CheckpointManager(checkpoint, run_dir.checkpoint_dir, max_to_keep=1).save(checkpoint_number=0)
        files.write_text(os.path.join(staging, "imported.json"), json.dumps(provenance, indent=2) + "\n")
    return args.model_dir
