"""experiments/make_gallery.py end to end at tiny sizes (`--quick`, random VGG weights), in subprocesses.

Checks the pictures decode at the layout's size, that a piecewise run keeps the other section's entry in
commands.json, that the recorded settings are the library defaults plus the gallery's sizes, that
CREDITS.md names each input's author and licence, and that bad input gives one `error:` line.
"""

import json
import math
import os
import pathlib
import subprocess
import sys

import pytest

from tfstyle import images

REPO = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = REPO / "experiments" / "make_gallery.py"
SIZE, CELL, PAD = 32, 96, 6  # quick-mode style-transfer size, the smallest cell shown, the padding


def _run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=REPO, env=env)


def _printed_entries(stdout: str) -> dict:
    """The JSON object the script prints before its one-line summary."""
    return json.loads(stdout[:stdout.rindex("}") + 1])


def test_quick_grid_then_colour_into_one_folder(shared_data, tmp_path):
    from tfstyle.optimize import OptimizeConfig

    out = tmp_path / "gallery"
    common = ("--quick", "--weights=random", f"--shared={shared_data}", f"--out={out}")
    grid_run = _run("--only=grid", *common)
    assert grid_run.returncode == 0, grid_run.stderr[-3000:]
    assert set(_printed_entries(grid_run.stdout)) == {"grid.jpg"}
    colour_run = _run("--only=colour", *common)
    assert colour_run.returncode == 0, colour_run.stderr[-3000:]

    # Quick grid: 2 photos x 2 paintings -> 3 columns (photo + 2 results) of square cells; colour: 5
    # columns (photo, painting, 3 results) of cells with the photo's aspect; short sides shown at CELL px.
    grid = images.read_image_uint8(out / "grid.jpg")
    colour = images.read_image_uint8(out / "colour.jpg")
    assert grid.shape[1] == PAD + 3 * (CELL + PAD)
    photo_height, photo_width = images.scaled_size(341, 512, SIZE)  # coffee.png is 512x341: 32x21 px
    assert colour.shape[1] == PAD + 5 * (math.ceil(photo_width * CELL / photo_height) + PAD)
    assert grid.shape[0] > PAD + 3 * (CELL + PAD)  # 3 rows of cells plus title and captions
    assert grid.std() > 20 and colour.std() > 20  # pictures, not blank canvases
    assert sorted(p.name for p in out.iterdir()) == ["CREDITS.md", "colour.jpg", "commands.json", "grid.jpg"]

    commands = json.loads((out / "commands.json").read_text())
    assert set(commands) == {"grid.jpg", "colour.jpg"}  # the colour run kept the grid entry
    grid_entry, colour_entry = commands["grid.jpg"], commands["colour.jpg"]
    assert grid_entry["command"].startswith("python experiments/make_gallery.py --only=grid")
    assert grid_entry["rerun"].startswith("python experiments/make_gallery.py --only=grid")
    assert "--quick" in grid_entry["rerun"] and "--weights=random" in grid_entry["rerun"]
    settings = grid_entry["settings"]
    defaults = OptimizeConfig()
    assert (settings["image_size"], settings["iterations"], settings["weights"]) == (SIZE, 2, "random")
    assert (settings["style_weight"], settings["tv_weight"], settings["content_weight"]) == (
        defaults.style_weight, defaults.tv_weight, defaults.content_weight)
    assert len(grid_entry["equivalent"]) == 4
    assert all(c.startswith("python -m tfstyle.optimize --content=") and "--image_size=32" in c
               for c in grid_entry["equivalent"])
    assert grid_entry["inputs"][0] == "content/chelsea_cat.png"
    assert {mode: s["preserve_colors"] for mode, s in colour_entry["settings"].items()} == {
        "none": "none", "luminance": "luminance", "histogram": "histogram"}
    assert "--preserve_colors=luminance" in colour_entry["equivalent"][1]

    credits = (out / "CREDITS.md").read_text()
    assert "## grid.jpg" in credits and "## colour.jpg" in credits
    assert "Stefan van der Walt" in credits and "CC0-1.0" in credits  # chelsea_cat.png's row of SOURCES.csv
    assert "Rachel Michetti" in credits  # coffee.png, the colour section's photo


def test_missing_shared_data_is_one_error_line(tmp_path):
    out = tmp_path / "gallery"
    result = _run("--quick", "--only=grid", f"--shared={tmp_path / 'nowhere'}", f"--out={out}")
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: shared data not found at ")
    assert str(tmp_path / "nowhere") in lines[0]
    assert not out.exists()


def test_unknown_section_is_refused(shared_data, tmp_path):
    result = _run("--quick", "--only=grid,sketch", f"--shared={shared_data}", f"--out={tmp_path / 'g'}")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: --only: unknown section(s) sketch")
    assert not (tmp_path / "g").exists()


@pytest.mark.slow
def test_quick_highres_and_cyclegan(shared_data, tmp_path):
    out = tmp_path / "gallery"
    result = _run("--quick", "--only=highres,cyclegan", "--weights=random", f"--shared={shared_data}",
                  f"--out={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("highres.jpg", "highres_crop.jpg", "cyclegan.jpg"):
        assert images.read_image_uint8(out / name).std() > 20
    commands = json.loads((out / "commands.json").read_text())
    assert set(commands) == {"highres.jpg", "highres_crop.jpg", "cyclegan.jpg"}
    cyclegan = commands["cyclegan.jpg"]["settings"]
    assert cyclegan["steps_done"] == cyclegan["max_steps"] == 4
    assert all(name.startswith("unpaired/photo2painting/A/") for name in cyclegan["held_out"])
    assert "tfstyle.cyclegan.train" in commands["cyclegan.jpg"]["equivalent"][0]
    # The highres crop: the crop of the 64 px result next to the same crop of the upscaled 32 px one.
    assert commands["highres_crop.jpg"]["settings"]["crop_px"][2:] == [21, 21]  # 64 // 3, shown in 96 px cells
    assert images.read_image_uint8(out / "highres_crop.jpg").shape[1] == PAD + 2 * (CELL + PAD)
