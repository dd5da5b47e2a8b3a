"""experiments/compare_recipe.py: the equal-content comparison of two fronts, its variants, one tiny study."""

import json
import math

import helpers
import pytest

from tfstyle import images

SCRIPT = helpers.REPO / "experiments" / "compare_recipe.py"


@pytest.fixture(scope="module")
def study():
    return helpers.load_experiment("compare_recipe")


def test_style_ratio_interpolates_the_other_front_in_log_log(study):
    theirs = [(1.0, 100.0), (100.0, 1.0)]  # log-log line: style = 100 / content
    ours = [(10.0, 5.0)]  # theirs at content 10 is 10, so ours is half
    result = study.style_ratio(ours, theirs)
    assert result["ratio"] == pytest.approx(0.5) and result["extrapolated"] is None
    # Their points inside our range count too: ours is a single point, so only it is compared.
    assert result["ratios"] == [pytest.approx(0.5)]
    # Two overlapping fronts: our points against theirs and theirs against ours, the median of all.
    ours = [(2.0, 25.0), (50.0, 1.0)]
    result = study.style_ratio(ours, theirs)
    assert len(result["ratios"]) == 2  # their ends (1 and 100) lie outside our range [2, 50]
    assert result["ratios"][0] == pytest.approx(25.0 / 50.0)
    assert result["ratios"][1] == pytest.approx(1.0 / 2.0)


def test_style_ratio_without_overlap_holds_the_other_front_flat_and_says_which_side(study):
    theirs = [(10.0, 8.0), (20.0, 6.0)]
    lower = study.style_ratio([(2.0, 4.0), (5.0, 2.0)], theirs)
    assert lower["extrapolated"] == "ours lower"
    assert lower["ratios"] == [pytest.approx(0.5), pytest.approx(0.25)]  # against their least-content point (8)
    higher = study.style_ratio([(40.0, 3.0)], theirs)
    assert higher["extrapolated"] == "ours higher" and higher["ratio"] == pytest.approx(0.5)


def test_parse_variant(study):
    assert study.benchmarking.parse_variant("default") == ("default", {})
    assert study.benchmarking.parse_variant("max=pooling:max,style_weight:1e-3,ema:0.9") == (
        "max", {"pooling": "max", "style_weight": 0.001, "ema": 0.9})
    with pytest.raises(ValueError, match="field:value"):
        study.benchmarking.parse_variant("bad=pooling")


def test_a_tiny_study_end_to_end(tmp_path, shared_data):
    """Two runs of 12 s at 32 px (random weights): each writes its output, the evaluator scores both under
    both poolings, and the JSON, the plot and the grid are written; a rerun takes both runs from the cache."""
    del shared_data  # the study reads its pairs from ../shared
    work, output, plot, grid = tmp_path / "runs", tmp_path / "study.json", tmp_path / "fronts.png", tmp_path / "g.jpg"
    args = ["--pairs=astronaut_wave", "--multipliers=1", "--seconds=12", "--size=32", "--weights=random",
            f"--work_dir={work}", f"--output={output}", f"--plot={plot}", f"--grid={grid}"]
    result = helpers.run_script(SCRIPT, *args, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(output.read_text())
    runs = {run["variant"]: run for run in report["runs"]}
    assert set(runs) == {"recipe", "default"}
    for run in runs.values():
        assert run["iterations"] >= 1 and 12.0 <= run["wall_seconds"] < 40.0
        assert set(run["scores"]) == {"max", "avg"}
        assert all(math.isfinite(v) and v > 0 for s in run["scores"].values() for v in s.values())
    (row_max, row_avg) = report["rows"]
    assert (row_max["pooling"], row_avg["pooling"]) == ("max", "avg")
    assert row_max["ratio"] > 0 and row_max["pair"] == "astronaut_wave" and "astronaut_wave" in report["table"]
    assert images.read_image_uint8(plot).std() > 0 and images.read_image_uint8(grid).shape[0] >= 32
    again = helpers.run_script(SCRIPT, *args, timeout=300)
    assert again.returncode == 0 and again.stdout.count(": cached") == 2
