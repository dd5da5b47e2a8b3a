"""Tests for tfstyle.optimize.multiscale: stage planning and the memory check done before any work."""

import json
import os

import helpers
import pytest

from tfstyle.optimize import multiscale
from tfstyle.optimize.multiscale import MIN_STAGE_ITERATIONS, MIN_STAGE_SIZE, Stage


def test_single_scale_is_one_stage():
    assert multiscale.plan_stages(256, 1, 200) == [Stage(256, 200)]


def test_sizes_double_up_to_the_output_and_iterations_halve():
    assert multiscale.plan_stages(1024, 3, 200) == [Stage(256, 200), Stage(512, 100), Stage(1024, 50)]
    assert multiscale.plan_stages(1000, 2, 300) == [Stage(500, 300), Stage(1000, 150)]


def test_iterations_never_drop_below_the_minimum():
    stages = multiscale.plan_stages(2048, 4, 40)
    assert [s.long_side for s in stages] == [256, 512, 1024, 2048]
    assert [s.iterations for s in stages] == [40, MIN_STAGE_ITERATIONS, MIN_STAGE_ITERATIONS, MIN_STAGE_ITERATIONS]
    assert multiscale.plan_stages(128, 2, 5) == [Stage(64, 5), Stage(128, MIN_STAGE_ITERATIONS)]


def test_stages_below_the_minimum_size_are_dropped():
    # 200 -> 100 -> 50: the 50 px stage is below MIN_STAGE_SIZE and is not planned.
    assert MIN_STAGE_SIZE == 64
    assert multiscale.plan_stages(200, 5, 100) == [Stage(100, 100), Stage(200, 50)]
    assert multiscale.plan_stages(127, 3, 10) == [Stage(127, 10)]
    assert multiscale.plan_stages(128, 3, 10)[0] == Stage(64, 10)
    for size in (32, 64, 100, 300, 777, 3000):
        stages = multiscale.plan_stages(size, 6, 50)
        assert stages[-1].long_side == size
        assert all(s.long_side >= MIN_STAGE_SIZE for s in stages[:-1])
        assert all(b.long_side == 2 * a.long_side or b.long_side == 2 * a.long_side + 1
                   for a, b in zip(stages, stages[1:], strict=False))


def _measured_cpu_peaks() -> list[dict]:
    """Rows of tfstyle's own solvers (adam, lbfgs) from the committed CPU runs of experiments/bench_optimize.py."""
    rows = []
    for path in sorted((helpers.REPO / "experiments" / "results").glob("bench_optimize_cpu_*.json")):
        report = json.loads(path.read_text())
        rows += [row for row in report["rows"] if row["method"] in ("adam", "lbfgs") and "error" not in row
                 and row.get("peak_rss_bytes")]
    return rows


def test_estimate_covers_every_measured_peak_without_wasting_half_the_machine():
    rows = _measured_cpu_peaks()
    if not rows:
        pytest.skip("no CPU results of experiments/bench_optimize.py in experiments/results/")
    for row in rows:
        estimate = multiscale.estimate_bytes(row["size"], row["size"])
        label = f"{row['method']} jit={row['jit']} {row['size']} px: estimate {estimate / 2**30:.2f} GiB, " \
                f"measured {row['peak_rss_bytes'] / 2**30:.2f} GiB"
        assert row["peak_rss_bytes"] <= estimate <= 2 * row["peak_rss_bytes"], label


def test_estimate_grows_with_pixels_and_batch():
    base = multiscale.estimate_bytes(256, 256)
    assert multiscale.estimate_bytes(256, 257) > base and multiscale.estimate_bytes(512, 512) > base
    assert multiscale.estimate_bytes(256, 256, batch=2) > base


def test_check_fits_refuses_a_huge_size_with_a_clear_message():
    available = multiscale.available_bytes(has_gpu=False)
    if available is None:
        pytest.skip("available memory is unknown on this machine")
    with pytest.raises(ValueError) as error:
        multiscale.check_fits(100_000, 80_000, 1, has_gpu=False)
    message = str(error.value)
    assert "80000x100000 px" in message and "GiB" in message and "available RAM" in message
    assert "--image_size" in message


def test_check_fits_refuses_exactly_when_the_estimate_exceeds_what_is_available(monkeypatch):
    # available_bytes is the machine's answer, not the unit under test: pin it so the rule is checked exactly.
    needed = multiscale.estimate_bytes(300, 200, 2)
    monkeypatch.setattr(multiscale, "available_bytes", lambda has_gpu: needed)
    assert multiscale.check_fits(300, 200, 2, has_gpu=False) is None  # fits exactly
    with pytest.raises(ValueError, match="GPU memory"):
        multiscale.check_fits(300, 201, 2, has_gpu=True)
    monkeypatch.setattr(multiscale, "available_bytes", lambda has_gpu: None)  # unknown: never refuses
    assert multiscale.check_fits(100_000, 80_000, 1, has_gpu=False) is None


def test_available_ram_is_positive_and_at_most_the_installed_ram():
    available = multiscale.available_bytes(has_gpu=False)
    if available is None:
        pytest.skip("available memory is unknown on this machine")
    assert 0 < available <= os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
