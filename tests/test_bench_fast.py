"""experiments/bench_fast.py: its plan of rows, and the quick rows run in-process through the users' code paths."""

import argparse

import helpers
import pytest


@pytest.fixture(scope="module")
def bench():
    return helpers.load_experiment("bench_fast")


def _quick(**overrides):
    values = dict(quick=True, warmup=1, iterations=1, model_dir="", adain_model_dir="")
    values.update(overrides)
    return argparse.Namespace(**values)


def test_the_plan_covers_every_row_the_issue_names(bench):
    specs = bench.plan(_quick(quick=False, warmup=2, iterations=5))
    stylize = {(s["size"], s["precision"], s["batch"]) for s in specs if s["kind"] == "stylize"}
    assert {(size, precision, 1) for size in (256, 512, 1024) for precision in ("float32", "bf16")} <= stylize
    assert {(size, precision, 16) for size in (256, 512) for precision in ("float32", "bf16")} <= stylize
    assert {s["runtime"] for s in specs if s["kind"] == "runtime"} == {"litert", "onnx"}
    assert {(s["size"], s["batch"]) for s in specs if s["kind"] == "train"} == {(256, 4)}
    assert [s["size"] for s in specs if s["kind"] == "optimize"] == [512]
    assert [s["size"] for s in bench.plan(_quick(adain_model_dir="runs/adain")) if s["kind"] == "adain"] == [64]


def test_quick_rows_run_through_the_stylize_and_train_paths(bench):
    specs = [s for s in bench.plan(_quick()) if s["kind"] in ("stylize", "adain", "train")]
    rows = [bench.run_row(spec) for spec in specs]
    for row in rows:
        assert row.get("ms_per_image", row.get("ms_per_step")) > 0 and row["images_per_second"] > 0
        assert row["peak_rss_bytes"] > 0
    table = bench.format_table(rows)
    assert "adain" in table and "train" in table and "bf16" in table


def test_the_quick_optimize_row_times_both_precisions_and_scores_both_results(bench):
    (spec,) = [s for s in bench.plan(_quick()) if s["kind"] == "optimize"]
    row = bench.run_row(spec)
    assert row["default_precision"] in ("float32", "bf16")
    assert row["speedup"] == pytest.approx(row["optimize_seconds"] / row["fast_seconds"])
    assert row["speedup_default"] == pytest.approx(row["optimize_seconds"] / row["fast_default_seconds"])
    assert all(row[key] > 0 for key in ("optimize_style_loss", "fast_style_loss", "optimize_content_loss",
                                        "fast_content_loss"))
    assert "stylize's default" in bench.format_table([row])
