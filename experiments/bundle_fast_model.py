"""Turn a `tfstyle.fast.train` run into a bundled model: float16 weights, its config, a model card and a picture.

    python experiments/bundle_fast_model.py --model_dir runs/starry_night \\
        --output tfstyle/assets/models/starry_night --train_command "python -m tfstyle.fast.train ..." \\
        --train_seconds 2900 --photos ../shared/data/content/chelsea_cat.png,...

Writes into `--output`: `weights.npz` (`tfstyle.fast.inference.save_weights`, float16), `config.json` (the run's,
with the paths made relative to the repository or its ../shared), `card.json` and `MODEL_CARD.md`; and
`docs/fast_<name>.jpg`, each held-out photo beside the optimisation path's default result and the network's.

The card's scores: each `--photos` image (photos the network never saw in training) at each `--sizes` long
side, stylised by the bundled network and by `tfstyle.optimize.stylize` with its defaults, both scored by
`tfstyle.evaluate`'s fixed protocol (`StyleEvaluator`: VGG19, content block4_conv2, style block1..5_conv1, max
pooling), with the seconds each took (the network's after one warm-up call; the optimisation's start-up not counted).

An arbitrary-style (AdaIN) run is bundled the same way (its decoder's weights) and scored on every pair of a
`--photos` image and a `--styles` painting (paintings it never saw either), the painting read at that size
as the optimisation path reads it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
import time

import bench_magenta  # experiments/bench_magenta.py, beside this script (photos and optimisation references)
import benchmarking  # experiments/benchmarking.py, beside this script

REPO = benchmarking.REPO
SHARED = os.path.join(os.path.dirname(REPO), "shared")


def _portable(path: str | None) -> str | None:
    """A path relative to the repository (or `../shared/...`), so the card names what anyone can find."""
    if not path:
        return path
    path = os.path.realpath(path)
    for root, prefix in ((REPO, ""), (SHARED, "../shared/")):
        if path.startswith(root + os.sep):
            return prefix + os.path.relpath(path, root)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model_dir", required=True, help="the tfstyle.fast.train run")
    parser.add_argument("--output", required=True, help="bundled model folder to write")
    parser.add_argument("--photos", required=True, help="comma-separated held-out photos to score and show")
    parser.add_argument("--styles", default="", help="arbitrary-style runs: comma-separated held-out paintings")
    parser.add_argument("--sizes", default="256", help="comma-separated long sides in px of the scored images")
    parser.add_argument("--train_command", default="", help="the command that trained the run, for the card")
    parser.add_argument("--train_seconds", type=float, default=None, help="its wall time, for the card")
    parser.add_argument("--optimized_dir", default=None, help="reuse the optimisation results kept here "
                                                              "(bench_magenta / study_finetune)")
    parser.add_argument("--content_sources", default="", help="what the content folder held, for the card")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import numpy as np
    from PIL import Image

    from tfstyle import images
    from tfstyle.evaluate import StyleEvaluator
    from tfstyle.fast import inference
    from tfstyle.training.rundir import RunDir

    model = inference.load_model(args.model_dir)
    config = model.config
    trained = model.decoder if model.arbitrary else model.network
    if model.arbitrary and not args.styles:
        parser.error("an arbitrary-style run is scored on held-out paintings: give --styles")
    step = int(os.path.basename(RunDir(args.model_dir).checkpoints()[0]).split("-")[-1])
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".bundle-", dir=os.path.dirname(os.path.abspath(args.output)))
    try:
        inference.save_weights(trained, os.path.join(staging, inference.WEIGHTS_FILE))
        with open(RunDir(args.model_dir).config_path, encoding="utf-8") as file:
            saved = json.load(file)
        saved.update(model_dir="", cache_dir=None)
        for key in ("style", "style_dir", "content_dir"):  # folders outside the repository and ../shared: the card
            value = _portable(saved.get(key))
            saved[key] = None if value and os.path.isabs(value) else value
        saved["style"] = saved["style"] or ""
        with open(os.path.join(staging, "config.json"), "w", encoding="utf-8") as file:
            file.write(json.dumps(saved, indent=2) + "\n")
        bundled = inference.load_model(staging)  # what users will get: the float16 weights

        evaluator = StyleEvaluator()
        paintings = args.styles.split(",") if model.arbitrary else [config.style]
        rows, tiles = [], []
        for size, path, painting in [(int(size), path, painting) for size in args.sizes.split(",")
                                     for path in args.photos.split(",") for painting in paintings]:
            photo = bench_magenta.photo_at(path, size)
            styles = [images.read_image_uint8(painting)] if model.arbitrary else []
            bundled.stylize([photo], styles, style_size=size)  # warm-up: tracing for this size
            start = time.perf_counter()
            fast = bundled.stylize([photo], styles, style_size=size)[0]
            fast_seconds = time.perf_counter() - start
            optimized, optimize_seconds = bench_magenta.optimised(path, painting, size, args.optimized_dir)
            scores = {name: evaluator.score(image, photo, [painting])
                      for name, image in (("fast", fast), ("optimize", optimized))}
            rows.append({"photo": _portable(path), "style": _portable(painting), "size": list(photo.shape[:2]),
                         "fast_seconds": fast_seconds, "optimize_seconds": optimize_seconds,
                         **{f"{name}_{key}": float(getattr(scores[name], key)) for name in scores
                            for key in ("content_loss", "style_loss")}})
            if size == int(args.sizes.split(",")[0]):
                tiles.append(np.concatenate([photo, optimized, fast], axis=1))
            row = rows[-1]
            print(f"{_portable(path)} x {os.path.basename(painting)}: style {row['fast_style_loss']:.4g} vs "
                  f"{row['optimize_style_loss']:.4g},"
                  f" content {rows[-1]['fast_content_loss']:.4g} vs {rows[-1]['optimize_content_loss']:.4g}; "
                  f"{fast_seconds * 1e3:.0f} ms vs {optimize_seconds} s", flush=True)
        style_ratio = float(np.median([r["fast_style_loss"] / r["optimize_style_loss"] for r in rows]))
        content_ratio = float(np.median([r["fast_content_loss"] / r["optimize_content_loss"] for r in rows]))
        per_size = {f"{side}": [float(np.median([r[f"fast_{key}"] / r[f"optimize_{key}"] for r in rows
                                                 if max(r["size"]) == side])) for key in ("style_loss", "content_loss")]
                    for side in sorted({max(r["size"]) for r in rows})}
        machine = benchmarking.describe_machine()
        card = {"name": os.path.basename(os.path.normpath(args.output)), "date": datetime.date.today().isoformat(),
                "arbitrary": model.arbitrary, "init": getattr(config, "init", "scratch"),
                "style": _portable(config.style_dir if model.arbitrary else config.style),
                "content": args.content_sources or _portable(config.content_dir),
                "command": args.train_command, "steps": step, "train_seconds": args.train_seconds,
                "machine": f"{machine['cpu_model']} ({machine['cpu_cores']} cores), TF {machine['tensorflow']}",
                "parameters": trained.count_params(), "evaluator": evaluator.protocol, "scores": rows,
                "median_style_ratio": style_ratio, "median_content_ratio": content_ratio, "medians_by_size": per_size}
        with open(os.path.join(staging, "card.json"), "w", encoding="utf-8") as file:
            file.write(json.dumps(card, indent=2) + "\n")
        with open(os.path.join(staging, "MODEL_CARD.md"), "w", encoding="utf-8") as file:
            file.write(model_card(card))
        picture = os.path.join(REPO, "docs", f"fast_{card['name']}.jpg")
        height, width = max(t.shape[0] for t in tiles), max(t.shape[1] for t in tiles)
        rows_of_tiles = [np.pad(t, ((0, height - t.shape[0]), (0, width - t.shape[1]), (0, 0)), constant_values=255)
                         for t in tiles]  # photo | optimisation | network, one row per photo, white margins
        Image.fromarray(np.concatenate(rows_of_tiles, axis=0)).save(picture, quality=90)
        os.chmod(staging, 0o755)  # mkdtemp's 0700 would hide the installed model from other users
        if os.path.exists(args.output):
            shutil.rmtree(args.output)
        os.replace(staging, args.output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"wrote {_portable(args.output)} and {_portable(picture)}: style {style_ratio:.2f}x, "
          f"content {content_ratio:.2f}x the optimisation path's (medians)")
    return 0


def model_card(card: dict) -> str:
    if card.get("arbitrary"):
        lines = [f"# {card['name']}: an arbitrary-style (AdaIN) network", "",
                 "Huang & Belongie's decoder (`tfstyle.fast.models.build_decoder`, "
                 f"{card['parameters']:,} parameters) behind the frozen VGG19 encoder, stored as float16 "
                 "(`weights.npz`) and its training config (`config.json`). Written by "
                 "`experiments/bundle_fast_model.py`.", "", f"* Paintings: {card['style']}"]
    elif card.get("init") == "magenta":
        lines = [f"# {card['name']}: a feed-forward network of {os.path.basename(card['style'])}", "",
                 "Magenta's pretrained arbitrary-style transformer (Ghiasi et al. 2017, `tfstyle.fast.magenta`; "
                 "`docs/magenta_model_card.md`) holding this painting's style vector, fine-tuned on it by "
                 f"`python -m tfstyle.fast.train --init magenta` ({card['parameters']:,} parameters), stored as "
                 "float16 (`weights.npz`) and its training config (`config.json`). Written by "
                 "`experiments/bundle_fast_model.py`.", "", f"* Style: `{card['style']}`"]
    else:
        lines = [f"# {card['name']}: a feed-forward network of {os.path.basename(card['style'])}", "",
                 "Johnson et al.'s image transformation network (`tfstyle.fast.models.build_transformer`, "
                 f"{card['parameters']:,} parameters), stored as float16 (`weights.npz`) and its training config "
                 "(`config.json`). Written by `experiments/bundle_fast_model.py`.", "", f"* Style: `{card['style']}`"]
    lines += [f"* Content photos: {card['content']}",
              f"* Command: `{card['command']}`", f"* Steps: {card['steps']}",
              f"* Wall time: {card['train_seconds'] / 60:.0f} min" if card["train_seconds"] else "* Wall time: -",
              f"* Machine: {card['machine']}", f"* Date: {card['date']}", "",
              "## Scores", "",
              "Photos the network never saw, stylised by it and by the optimisation path's defaults "
              "(`tfstyle.optimize.stylize`), scored by `tfstyle.evaluate`'s fixed protocol "
              f"({card['evaluator'].get('backbone', 'vgg19')}, content {card['evaluator'].get('content_layer', '')}, "
              "style block1..5_conv1):", "",
              "| photo | style | px | network style / content | optimisation style / content | network ms | "
              "optimisation s |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in card["scores"]:
        lines.append(f"| `{row['photo']}` | `{os.path.basename(row.get('style') or card['style'])}` | "
                     f"{row['size'][1]}x{row['size'][0]} | {row['fast_style_loss']:.4g} / "
                     f"{row['fast_content_loss']:.4g} | {row['optimize_style_loss']:.4g} / "
                     f"{row['optimize_content_loss']:.4g} | {row['fast_seconds'] * 1e3:.0f} | "
                     f"{'-' if row['optimize_seconds'] is None else format(row['optimize_seconds'], '.1f')} |")
    lines += ["", f"Medians: the network's style loss is {card['median_style_ratio']:.2f}x and its content loss "
              f"{card['median_content_ratio']:.2f}x the optimisation result's."]
    for side, (style, content) in card.get("medians_by_size", {}).items():
        lines.append(f"At {side} px: style {style:.2f}x, content {content:.2f}x.")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
