"""experiments/bench_optimize.py: its FLOP count, its flags, and one row run end to end through stylize()'s code."""

import json
import statistics
import time

import helpers
import pytest

from tfstyle.optimize.config import OptimizeConfig

SCRIPT = helpers.REPO / "experiments" / "bench_optimize.py"


@pytest.fixture(scope="module")
def bench():
    return helpers.load_experiment("bench_optimize")


def test_vgg_forward_flops_by_hand(bench):
    # block1_conv1 on 2x2: 2 FLOPs x 4 px x 9 taps x 3 -> 64 channels.
    assert bench.vgg_forward_flops(2, 2, "block1_conv1") == 2 * 4 * 9 * 3 * 64
    # block2_conv1 on 4x4: block1 (two convs at 4x4), a pool to 2x2, then 64 -> 128 at 2x2.
    expected = 2 * 16 * 9 * (3 * 64 + 64 * 64) + 2 * 4 * 9 * 64 * 128
    assert bench.vgg_forward_flops(4, 4, "block2_conv1") == expected


def test_rows_are_stylize_and_honest_peers(bench, capsys):
    assert bench.STYLIZE_METHODS == ("adam", "lbfgs")
    assert "tutorial" not in bench.METHODS  # the old loop was not the TF tutorial's recipe
    assert "recipe" in bench.METHODS
    # The start-up row is stylize()'s default path, whatever the defaults become.
    assert bench.STARTUP_ROW == (OptimizeConfig().optimizer, OptimizeConfig().jit)
    with pytest.raises(SystemExit) as raised:
        bench.parse_args(["--methods", "tutorial"])
    assert raised.value.code == 2 and "unknown --methods tutorial" in capsys.readouterr().err
    with pytest.raises(SystemExit) as raised:
        bench.parse_args(["--precision", "float32,fp16"])
    assert raised.value.code == 2 and "unknown --precision float32,fp16" in capsys.readouterr().err


def test_rows_at_32_px_with_random_weights(tmp_path, bench):
    """The whole script (parent + each row in its own process) on stylize()'s L-BFGS path and the tutorial's
    recipe: the JSON it writes, and the start-up of both."""
    output = tmp_path / "bench.json"
    started = time.time()
    result = helpers.run_script(SCRIPT, "--sizes=32", "--methods=lbfgs,masked,recipe", "--xla=off", "--iterations=2",
                                "--warmup=1", "--weights=random", "--precision=float32", f"--output={output}",
                                timeout=300)
    wall = time.time() - started
    assert result.returncode == 0, result.stderr[-2000:] + result.stdout[-2000:]
    report = json.loads(output.read_text())
    assert report["benchmark"] == "bench_optimize" and report["settings"]["weights"] == "random"
    row, masked, recipe = report["rows"]
    assert (row["size"], row["method"], row["jit"], row["weights"]) == (32, "lbfgs", False, "random")
    assert row["iterations_done"] == 3 and len(row["ms_per_iteration_all"]) == 3
    assert row["ms_per_iteration"] == pytest.approx(statistics.median(row["ms_per_iteration_all"][1:]))
    assert row["evaluations_per_iteration"] >= 1  # counted from the solver state stylize() keeps
    assert row["gflops"] == pytest.approx(row["gflop_per_iteration"] * 1000.0 / row["ms_per_iteration"])
    # The in-graph L-BFGS never raises the loss: three iterations from the content start lower it.
    assert 0.0 < row["relative_loss"] < 1.0
    assert row["peak_rss_bytes"] > 100 * 2**20
    assert "lbfgs" in report["table"] and report["table"] in result.stdout
    assert row["precision"] == "float32" and report["settings"]["precision"] == "float32"

    # Spatial control: stylize()'s L-BFGS with two masked regions, its cost over the plain row reported.
    assert (masked["method"], masked["iterations_done"]) == ("masked", 3) and 0.0 < masked["relative_loss"] < 1.0
    (cost,) = report["mask_cost"]
    assert cost["ratio"] == pytest.approx(masked["ms_per_iteration"] / row["ms_per_iteration"])

    # The recipe: one Adam step per iteration, its FLOPs to block5_conv2, its own loss lowered by 3 steps.
    assert (recipe["size"], recipe["method"], recipe["iterations_done"]) == (32, "recipe", 3)
    assert recipe["evaluations_per_iteration"] == 1
    assert recipe["gflop_per_iteration"] == pytest.approx(2 * bench.vgg_forward_flops(32, 32, "block5_conv2") / 1e9)
    assert recipe["gflop_per_iteration"] > row["gflop_per_iteration"] / row["evaluations_per_iteration"]
    assert 0.0 < recipe["relative_loss"] < 1.0 and recipe["start_loss"] > 0
    assert "recipe" in report["table"]

    # Start-up: process start -> first iteration, inside the parent's run, and both rows reported.
    (startup,) = report["startup"]
    assert startup["size"] == 32
    assert startup["tfstyle_seconds"] == row["startup_seconds"]
    assert startup["recipe_seconds"] == recipe["startup_seconds"]
    assert startup["tfstyle_precision"] == "float32"  # the only precision run, whatever auto picks here
    # A whole run of RUN_ITERATIONS: start-up plus the other iterations at the median time, for both.
    expected = row["startup_seconds"] + (bench.RUN_ITERATIONS - 1) * row["ms_per_iteration"] / 1e3
    assert startup["tfstyle_run_seconds"] == pytest.approx(expected)
    assert startup["run_ratio"] == pytest.approx(expected / startup["recipe_run_seconds"])
    for seconds in (row["startup_seconds"], recipe["startup_seconds"]):
        assert 0.0 < seconds < wall
    # The first iteration ends the start-up: it is at least as long as that iteration itself.
    assert recipe["startup_seconds"] > recipe["ms_per_iteration_all"][0] / 1e3
    assert report["startup_table"] in result.stdout
