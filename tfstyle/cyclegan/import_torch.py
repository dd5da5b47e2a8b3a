"""Import a generator of pytorch-CycleGAN-and-pix2pix (`latest_net_G.pth`) as a tfstyle run folder, without torch.

    python -m tfstyle.cyclegan.import_torch horse2zebra.pth --model_dir runs/horse2zebra
    python -m tfstyle.cyclegan.import_torch latest_net_G_A.pth --b2a latest_net_G_B.pth --model_dir runs/h2z
    python -m tfstyle.cyclegan.import_torch facades_label2photo.pth --netG unet_256 --norm batch \\
        --model_dir runs/facades

The file is read by `tfstyle.weights.read_torch_file` (current zip and legacy `torch.save` formats, a
restricted unpickler that refuses every global but the tensor ones). The architecture is read off its keys
(`torch_import.infer_architecture`); `--netG`, `--ngf` and `--norm` given explicitly are checked against
the file, naming the first key that does not fit. The weights go into the Keras generator of
`tfstyle.cyclegan.models` (`torch_import.map_state_dict`), and the run folder, written all or nothing, is
one that `translate`, `export`, `video --engine cyclegan` and the app read as they read a trained one:

    <model_dir>/config.json         a CycleGAN run (ResNet generators) or a pix2pix run (U-Net), see --model
    <model_dir>/checkpoints/ckpt-0  generator_ab (the file), generator_ba (--b2a)
    <model_dir>/imported.json       where the weights came from: file names, sha256, architecture

Batch norm is imported with its running statistics and used as in the reference's `test.py --eval`;
the reference's default test mode (no `--eval`) normalises each test image by its own statistics and keeps
dropout on, so its pictures differ a little.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os

from tfstyle import cli, files, geometry, options

logger = logging.getLogger(__name__)

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
    from tfstyle.cyclegan import torch_import

    found = torch_import.infer_architecture(state)
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
    from tfstyle.cyclegan import torch_import

    state = torch_import.clean_state_dict(state, architecture.norm)
    slots = torch_import.generator_slots(architecture.generator, architecture.ngf, architecture.norm,
                                         architecture.dropout)
    expected = {layer.name: [tuple(w.shape) for w in layer.weights] for layer in generator.layers if layer.weights}
    missing = set(expected) - {slot.layer for slot in slots}
    if missing:  # the slots and the builder disagree: a bug here, not in the file
        raise RuntimeError(f"no torch key is mapped to layer(s) {sorted(missing)}")
    try:
        weights = torch_import.map_state_dict(state, slots, expected, architecture.describe())
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    for name, arrays in weights.items():
        generator.get_layer(name).set_weights(arrays)


def import_run(args: ImportArgs, path: str) -> str:
    """Writes the run folder `args.model_dir` from `path` (and `args.b2a`); returns the folder.

    Raises:
        ValueError / FileNotFoundError: a bad file or flag; nothing is written.
    """
    from tfstyle.cyclegan import torch_import

    args.validate([path])
    sources = [(path, "generator_ab")] + ([(args.b2a, "generator_ba")] if args.b2a else [])
    states = {}
    for source, attribute in sources:
        state, digest = _read(source)
        states[attribute] = (source, torch_import.clean_state_dict(state, "batch"), digest)
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


cli.define_flags(ImportArgs)


def main(argv: list[str]) -> None:
    cli.setup_logging()
    args = cli.config_from_flags(ImportArgs)
    args.validate(argv[1:])
    model_dir = import_run(args, argv[1])
    print(f"wrote {model_dir}: python -m tfstyle.cyclegan.translate --model_dir {model_dir} --input ... "
          "--output ...")


run = cli.main_wrapper(main)

if __name__ == "__main__":
    run()
