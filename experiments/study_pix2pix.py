"""Study: pix2pix on edges -> photo after a fixed CPU budget, tfstyle's trainer against the TF tutorial's recipe.

    python experiments/study_pix2pix.py                      # ~20 min of training on a 2-core CPU, + ~3 min
    python experiments/study_pix2pix.py --budget_s 120       # a quick look

Data: the photos of ../shared/data/content/animals and ../shared/data/unpaired/photo2painting/A (101 photos),
made into an edges -> photo set by `tfstyle.pix2pix.pairs` (Canny, 256 px halves, every 5th photo held out:
81 training and 20 test pairs).

1. The tutorial's recipe (`experiments/pix2pix_tutorial.py`: its U-Net, PatchGAN, losses, Adam and
   augmentation) trains for `--budget_s / 2` seconds; N = the steps it made.
2. tfstyle trains N steps with `tfstyle.pix2pix.trainer.train` at its defaults (the command's code path:
   unet_256, batch norm, dropout, lambda_L1 100, Adam 2e-4 / 0.5, 286 -> 256 crops, batch 1): equal steps.
3. Each generator translates the 20 held-out edge maps (batch norm on its running statistics, no dropout);
   KID-VGG and FID-VGG against the 20 real photos (`tfstyle.evaluate.evaluate_translation`, the README's
   protocol), plus the mean L1 distance to the true photo in levels of 255.
4. A grid for the README: input | tfstyle | tutorial | target for 4 test pairs (docs/pix2pix_edges_grid.jpg).

Each training phase runs in its own process (`benchmarking.spawn_row`). With 20 test images KID is noisy
(its standard deviation over subsets is printed): read it with the L1 distance and the grid.
Results: experiments/results/study_pix2pix_<device>_<date>.json.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import sys
import time

import benchmarking  # experiments/benchmarking.py, beside this script
import numpy as np

SOURCES = ("content/animals", "unpaired/photo2painting/A")
GRID = os.path.join(benchmarking.REPO, "docs", "pix2pix_edges_grid.jpg")


def make_set(shared: str, work: str) -> str:
    """Links the photos of `SOURCES` into one folder and makes the edges set from it; returns the set folder."""
    from tfstyle import images
    from tfstyle.pix2pix import pairs

    output = os.path.join(work, "edges2photos")
    if os.path.isdir(output):
        return output
    photos = os.path.join(work, "photos")
    os.makedirs(photos, exist_ok=True)
    for source in SOURCES:
        for path in images.list_images(os.path.join(shared, source)):
            link = os.path.join(photos, f"{source.replace('/', '_')}_{os.path.basename(path)}")
            if not os.path.exists(link):
                os.symlink(os.path.abspath(path), link)
    pairs.make_pairs(pairs.PairsArgs(task="edges", input=photos, output=output, size=256, test_every=5))
    return output


def _halves(path: str) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) halves of one A|B file, as the trainer's `data.AlignedHalves` reads them."""
    from tfstyle import data

    return data.AlignedHalves((path,), 0).read(0), data.AlignedHalves((path,), 1).read(0)


def _write_outputs(outputs: list[np.ndarray], names: list[str], folder: str) -> None:
    from PIL import Image

    os.makedirs(folder, exist_ok=True)
    for output, name in zip(outputs, names, strict=True):
        Image.fromarray(output).save(os.path.join(folder, name))


def run_row(spec: dict) -> dict:
    import keras

    keras.utils.set_random_seed(0)
    tests = sorted(glob.glob(os.path.join(spec["set"], "test", "*.png")))
    inputs = [_halves(path)[0] for path in tests]
    names = [os.path.basename(path) for path in tests]
    start = time.perf_counter()
    if spec["peer"] == "tutorial":
        import pix2pix_tutorial

        recipe = pix2pix_tutorial.Recipe()
        iterator = iter(pix2pix_tutorial.train_dataset(sorted(glob.glob(os.path.join(spec["set"], "train", "*.png")))))
        steps = 0
        while time.perf_counter() - start < spec["seconds"]:
            losses = recipe.train_step(*next(iterator))
            float(losses["gen_total_loss"])
            steps += 1
        seconds = time.perf_counter() - start
        outputs = [pix2pix_tutorial.translate(recipe.generator, image) for image in inputs]
    else:
        from tfstyle.cyclegan import inference
        from tfstyle.pix2pix import config as config_lib
        from tfstyle.pix2pix import trainer

        model_dir = os.path.join(spec["work"], "tfstyle_run")
        config = config_lib.Pix2PixConfig(aligned=os.path.join(spec["set"], "train"), model_dir=model_dir,
                                          max_steps=spec["steps"], checkpoint_every_steps=100_000,
                                          image_every_steps=100_000, log_every_steps=100)
        trainer.train(config)
        steps, seconds = spec["steps"], time.perf_counter() - start
        generator, run_config = inference.load_generator(model_dir)
        outputs = inference.translator_for(generator, run_config)(inputs)
    _write_outputs(outputs, names, os.path.join(spec["work"], spec["peer"]))
    return {**spec, "steps_done": steps, "train_seconds": seconds, "ms_per_step": 1e3 * seconds / max(steps, 1)}


def grid(work: str, set_dir: str, rows: int = 4, cell: int = 192) -> str:
    from PIL import Image

    tests = sorted(glob.glob(os.path.join(set_dir, "test", "*.png")))[:rows]
    canvas = Image.new("RGB", (4 * cell, len(tests) * cell), "white")
    for row, path in enumerate(tests):
        source, target = _halves(path)
        name = os.path.basename(path)
        cells = [source, np.asarray(Image.open(os.path.join(work, "tfstyle", name))),
                 np.asarray(Image.open(os.path.join(work, "tutorial", name))), target]
        for column, image in enumerate(cells):
            canvas.paste(Image.fromarray(image).resize((cell, cell), Image.LANCZOS), (column * cell, row * cell))
    os.makedirs(os.path.dirname(GRID), exist_ok=True)
    canvas.save(GRID, quality=88)
    return GRID


def score(work: str, set_dir: str) -> dict:
    from PIL import Image

    from tfstyle.evaluate import evaluate_translation

    tests = sorted(glob.glob(os.path.join(set_dir, "test", "*.png")))
    targets = [_halves(path)[1] for path in tests]
    names = [os.path.basename(path) for path in tests]
    _write_outputs(targets, names, os.path.join(work, "target"))
    scores = {}
    for peer in ("tfstyle", "tutorial"):
        result = evaluate_translation(os.path.join(work, peer), os.path.join(work, "target"))
        outputs = [np.asarray(Image.open(os.path.join(work, peer, name))) for name in names]
        l1 = float(np.mean([np.abs(o.astype(np.float32) - t.astype(np.float32)).mean()
                            for o, t in zip(outputs, targets, strict=True)]))
        scores[peer] = {key: result[key] for key in ("KID-VGG", "KID-VGG_std", "FID-VGG")} | {"l1_levels": l1}
    return scores


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--row", help=argparse.SUPPRESS)
    parser.add_argument("--budget_s", type=float, default=1200.0, help="training seconds, split in two")
    parser.add_argument("--shared", default=os.path.join(os.path.dirname(benchmarking.REPO), "shared", "data"))
    parser.add_argument("--work", default="/tmp/study_pix2pix", help="scratch folder (set, runs, outputs)")
    parser.add_argument("--output", default="")
    args = parser.parse_args(argv)
    if args.row:
        benchmarking.print_row(run_row(json.loads(args.row)))
        return 0
    if not os.path.isdir(args.shared):
        print(f"error: no shared data at {args.shared} (--shared)", file=sys.stderr)
        return 2
    machine = benchmarking.describe_machine()
    set_dir = make_set(args.shared, args.work)
    counts = {split: len(glob.glob(os.path.join(set_dir, split, "*.png"))) for split in ("train", "test")}
    print(f"{machine['cpu_model']}, {machine['cpu_cores']} cores; set {counts}", flush=True)
    tutorial = benchmarking.spawn_row(__file__, {"peer": "tutorial", "set": set_dir, "work": args.work,
                                                 "seconds": args.budget_s / 2}, timeout=args.budget_s + 900)
    if "error" in tutorial:
        print(f"error: tutorial row: {tutorial['error']}", file=sys.stderr)
        return 1
    print(f"tutorial: {tutorial['steps_done']} steps in {tutorial['train_seconds']:.0f} s", flush=True)
    ours = benchmarking.spawn_row(__file__, {"peer": "tfstyle", "set": set_dir, "work": args.work,
                                             "steps": tutorial["steps_done"]}, timeout=args.budget_s * 2 + 900)
    if "error" in ours:
        print(f"error: tfstyle row: {ours['error']}", file=sys.stderr)
        return 1
    print(f"tfstyle: {ours['steps_done']} steps in {ours['train_seconds']:.0f} s", flush=True)
    scores = score(args.work, set_dir)
    for peer, values in scores.items():
        print(f"  {peer:<9} KID-VGG {values['KID-VGG']:.4f} +- {values['KID-VGG_std']:.4f}  FID-VGG "
              f"{values['FID-VGG']:.1f}  L1 to the photo {values['l1_levels']:.1f} levels")
    picture = grid(args.work, set_dir)

    from tfstyle import files

    date = datetime.date.today().isoformat()
    output = args.output or os.path.join(benchmarking.RESULTS_DIR,
                                         f"study_pix2pix_{benchmarking.device_tag(machine)}_{date}.json")
    files.write_text(output, json.dumps({"study": "study_pix2pix", "date": date, "machine": machine,
                                         "set": counts, "rows": [tutorial, ours], "scores": scores,
                                         "grid": os.path.relpath(picture, benchmarking.REPO)}, indent=2) + "\n")
    print(f"wrote {os.path.relpath(output, os.getcwd())} and {os.path.relpath(picture, os.getcwd())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
