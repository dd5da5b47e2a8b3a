"""Score a pix2pix run on a held-out paired split: KID / FID of its translations and their L1 distance to the truth.

    python -m tfstyle.pix2pix.evaluate --model_dir runs/edges2animals --aligned sets/edges2animals/test
    python -m tfstyle.pix2pix.evaluate --model_dir runs/x --domain_a test/edges --domain_b test/photos --json k.json

The run's generator translates every input of the split at its full size (as `translate` does: batch norm on its
running statistics, no dropout); the translations are scored against the targets with the evaluator's translation
protocol (`tfstyle.evaluate.evaluate_translation`: KID-VGG and FID-VGG by default, see the README's Evaluation
section), and the mean absolute difference to each image's own target is reported in levels of 255 (pix2pix's
paired data allows it; Isola et al. score the same way with their FCN and perceptual studies). `--output_dir`
keeps the translations. Only `--json` and `--output_dir` are written, each all or nothing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os

from tfstyle import cli, files, options

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class EvaluateArgs:
    """Flags of `python -m tfstyle.pix2pix.evaluate`."""

    model_dir: str = options.option("", "pix2pix (or CycleGAN) run folder")
    aligned: str = options.option("", "held-out A|B images (the reference's aligned format)")
    direction: str = options.option("AtoB", "with --aligned: AtoB translates left to right, BtoA right to left",
                                    ("AtoB", "BtoA"))
    domain_a: str = options.option("", "held-out inputs, paired with --domain_b by file name")
    domain_b: str = options.option("", "held-out targets")
    features: str = options.option("vgg", "KID / FID features: vgg (offline) or inception", ("vgg", "inception"))
    json: str = options.option("", "also write the numbers to this JSON file")
    output_dir: str = options.option("", "keep the translations in this new folder")

    def validate(self) -> None:
        if not self.model_dir:
            raise ValueError("--model_dir is required (a run folder)")
        if bool(self.aligned) == bool(self.domain_a or self.domain_b):
            raise ValueError("give --aligned (A|B images) or --domain_a and --domain_b, one of the two")
        if not self.aligned and not (self.domain_a and self.domain_b):
            raise ValueError("give both --domain_a and --domain_b")
        if self.output_dir and os.path.exists(self.output_dir):
            raise ValueError(f"--output_dir {self.output_dir} exists already: give a new folder")


def evaluate_split(args: EvaluateArgs, progress=None) -> dict:
    """Translates the split and scores it; returns the JSON-ready numbers (see the module docstring)."""
    import numpy as np

    from tfstyle import data, images
    from tfstyle.cyclegan import inference
    from tfstyle.evaluate import evaluate_translation

    args.validate()
    if args.aligned:
        inputs, targets = data.aligned_sources(args.aligned, args.direction)
        sources = inputs.paths

        def read(index: int):
            return inputs.read(index), targets.read(index)
    else:
        sources, target_paths = data.paired_folder_paths(args.domain_a, args.domain_b)

        def read(index: int):
            return images.read_image_uint8(sources[index]), images.read_image_uint8(target_paths[index])
    names = [os.path.splitext(os.path.basename(path))[0] + ".png" for path in sources]

    generator, config = inference.load_generator(args.model_dir)
    translator = inference.translator_for(generator, config)
    with files.scratch_dir(os.path.dirname(os.path.abspath(args.output_dir or args.json or args.model_dir))) as work:
        generated, truth = os.path.join(work, "generated"), os.path.join(work, "target")
        os.makedirs(generated)
        os.makedirs(truth)
        distances = []
        for index, name in enumerate(names):
            source, target = read(index)
            output = translator([source])[0]
            if output.shape != target.shape:
                raise ValueError(f"{name}: the translation is {output.shape[1]}x{output.shape[0]} px but its target "
                                 f"is {target.shape[1]}x{target.shape[0]}: pairs must have equal sizes")
            distances.append(float(np.abs(output.astype(np.float32) - target.astype(np.float32)).mean()))
            images.save_image(os.path.join(generated, name), output)
            images.save_image(os.path.join(truth, name), target)
            if progress is not None:
                progress.update(1)
        scores = evaluate_translation(generated, truth, args.features)
        result = {"model_dir": os.path.abspath(args.model_dir), "pairs": len(names),
                  "l1_levels": float(np.mean(distances)), **scores}
        if args.output_dir:
            os.replace(generated, args.output_dir)
    if args.json:
        files.write_text(args.json, json.dumps(result, indent=2) + "\n")
    return result


cli.define_flags(EvaluateArgs)


def main(argv: list[str]) -> None:
    del argv
    cli.setup_logging()
    args = cli.config_from_flags(EvaluateArgs)
    args.validate()
    with cli.Progress(None, "translate the split", unit="img") as progress:
        result = evaluate_split(args, progress)
    net = "VGG" if args.features == "vgg" else "Inception"
    print(f"{result['pairs']} pairs: KID-{net} {result[f'KID-{net}']:.4f} +- {result[f'KID-{net}_std']:.4f}  "
          f"FID-{net} {result[f'FID-{net}']:.2f}  L1 to the target {result['l1_levels']:.2f} levels of 255")


run = cli.main_wrapper(main)

if __name__ == "__main__":
    run()
