"""experiments/bench_video.py: its clip has the motion it claims, its plan, and a quick row through the CLI's path."""

import argparse

import helpers
import numpy as np
import pytest

pytest.importorskip("av")
pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def bench():
    return helpers.load_experiment("bench_video")


def _args(**overrides):
    values = dict(quick=True, frames=24, size=256, strength=1.0, photo=str(helpers.ASSETS / "astronaut.jpg"),
                  model_dir="", adain_model_dir="", cyclegan_model_dir="", train_steps=0, optimize_frames=8,
                  optimize_size=128)
    values.update(overrides)
    return argparse.Namespace(**values)


def test_the_clip_moves_as_described(bench):
    from tfstyle.video import flow

    clip = bench.make_clip(str(helpers.ASSETS / "astronaut.jpg"), 3, 128)
    assert len(clip) == 3 and clip[0].shape == (128, 128, 3)
    motion = np.median(flow.flow(clip[0], clip[1])[32:-32, 32:-32].reshape(-1, 2), axis=0)
    assert np.all(motion < -1.0) and np.all(motion > -4.0)  # the window moves right and down: content moves back


def test_the_plan_pairs_each_engine_with_flow_and_none(bench):
    rows = bench.plan(_args(quick=False, adain_model_dir="runs/adain"), trained={"cyclegan": "/tmp/run"})
    assert [(r["engine"], r["temporal"]) for r in rows] == [
        ("fast", "flow"), ("fast", "none"), ("adain", "flow"), ("adain", "none"), ("cyclegan", "flow"),
        ("cyclegan", "none"), ("optimize", "flow"), ("optimize", "none")]
    assert rows[0]["size"] == 256 and rows[0]["frames"] == 24
    assert rows[4]["trained_here"] and not rows[2]["trained_here"]
    assert (rows[-1]["size"], rows[-1]["frames"]) == (128, 8)  # the optimize rows: a shorter, smaller cut
    assert [r["engine"] for r in bench.plan(_args())] == ["fast", "fast"]  # --quick


def test_a_quick_fast_row_reports_speed_flicker_and_style(bench):
    (flow_row, none_row) = [{**spec, **bench.run_row(spec)} for spec in bench.plan(_args())]
    for row in (flow_row, none_row):
        assert row["frames_per_second"] > 0 and row["style_loss"] > 0 and row["warping_error"] >= 0
    assert none_row["temporal_share"] < flow_row["temporal_share"]  # "none" computes no flow
    assert flow_row["warping_error"] < none_row["warping_error"]
    assert sorted(map(int, flow_row["per_frame"])) == [0, 4]  # every 4th of the 6 frames
    assert flow_row["worst_style"]["value"] == max(pair[0] for pair in flow_row["per_frame"].values())
    bench.relative_to_frame_by_frame([flow_row, none_row])
    worst = flow_row["worst_style_ratio"]
    assert worst["value"] == pytest.approx(flow_row["per_frame"][str(worst["frame"])][0]
                                           / none_row["per_frame"][str(worst["frame"])][0])
    assert "worst_style_ratio" not in none_row
    table = bench.format_table([flow_row, none_row])
    assert "warping error" in table and "worst style x" in table and f"(f{worst['frame'] + 1})" in table
