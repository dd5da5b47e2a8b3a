"""experiments/make_gallery.py end to end at tiny sizes (`--quick`, random VGG weights), in subprocesses.

Checks the pictures decode at the layout's size, that a piecewise run keeps the other section's entry in
commands.json, that the recorded settings are the library defaults plus the gallery's sizes, that
CREDITS.md names each input's author and licence, and that bad input gives one `error:` line. Each run
uses a small shared-data folder made from the bundled images (so the tests need no ../shared), and the
real ../shared/data again when it is there.
"""

import csv
import json
import math
import shutil

import helpers
import pytest
from PIL import Image

from tfstyle import images

SCRIPT = helpers.REPO / "experiments" / "make_gallery.py"
SIZE, CELL, PAD = 32, 96, 6  # quick-mode style-transfer size, the smallest cell shown, the padding
PHOTOS = ("content/chelsea_cat.png", "content/astronaut.png", "content/china_summer_palace.jpg", "content/coffee.png")
PAINTINGS = ("style/vangogh_starry_night.jpg", "style/hokusai_great_wave_off_kanagawa.jpg",
             "style/leonardo_mona_lisa.jpg")
HELD_OUT = ("monument_france_montStMichel.jpg", "monument_india_goldenTemple.jpg")  # QUICK's held-out photos


def _run(*args: str, timeout: int = 300):
    return helpers.run_script(SCRIPT, *args, timeout=timeout)


def _printed_entries(stdout: str) -> dict:
    """The JSON object the script prints before its one-line summary."""
    return json.loads(stdout[:stdout.rindex("}") + 1])


def _sources(shared) -> dict:
    with open(shared / "SOURCES.csv", newline="", encoding="utf-8") as file:
        return {row["file"]: row for row in csv.DictReader(file)}


@pytest.fixture(scope="module")
def made_shared(tmp_path_factory):
    """A shared-data folder laid out like ../shared/data, every picture cut from the bundled two, with a
    SOURCES.csv giving each file a made-up author and licence."""
    root = tmp_path_factory.mktemp("made_shared")
    with Image.open(helpers.ASSETS / "astronaut.jpg") as photo, \
            Image.open(helpers.ASSETS / "vangogh_starry_night.jpg") as painting:
        photo, painting = photo.convert("RGB"), painting.convert("RGB")
        sizes = {"content/chelsea_cat.png": (120, 90), "content/astronaut.png": (96, 96),
                 "content/china_summer_palace.jpg": (128, 96), "content/coffee.png": (150, 100)}
        for index, relative in enumerate(PHOTOS):
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            photo.rotate(90 * index).resize(sizes[relative]).save(root / relative)
        for index, relative in enumerate(PAINTINGS):
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            painting.rotate(90 * index).resize((100, 80)).save(root / relative)
    unpaired = helpers.make_two_domain_set(root / "unpaired" / "photo2painting", count_a=4, count_b=3, size=48)
    for name in HELD_OUT:
        shutil.copy(unpaired / "A" / "a_00.png", unpaired / "A" / name)  # a JPEG name, PNG bytes: decodes
    listed = [*PHOTOS, *PAINTINGS, *(f"unpaired/photo2painting/A/{name}" for name in HELD_OUT)]
    with open(root / "SOURCES.csv", "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, ["file", "title", "author", "licence", "original_source", "package",
                                       "version", "registry"])
        writer.writeheader()
        for index, relative in enumerate(listed):
            writer.writerow({"file": relative, "title": f"Made picture {index} - 2026", "author": f"Author {index}",
                             "licence": "CC0-1.0" if index % 2 else "CC-BY-4.0", "original_source": "",
                             "package": "tfstyle", "version": "0.1.0", "registry": "bundled"})
    return root


@pytest.fixture(params=["made", "shared"])
def shared_folder(request, made_shared):
    """The made folder, then ../shared/data (skipped when it is absent)."""
    return made_shared if request.param == "made" else request.getfixturevalue("shared_data")


def _check_credits(credits: str, shared, inputs) -> None:
    """CREDITS.md names the author and licence SOURCES.csv gives each input file."""
    sources = _sources(shared)
    for relative in inputs:
        if relative in sources:
            assert sources[relative]["author"] in credits, relative
            assert sources[relative]["licence"] in credits, relative


def _check_grid_and_colour(out, shared, commands: dict) -> None:
    """The quick grid and colour pictures, their commands.json entries and CREDITS.md, made from `shared`."""
    from tfstyle.optimize import OptimizeConfig

    # Quick grid: 2 photos x 2 paintings -> 3 columns (photo + 2 results) of square cells; colour: 5
    # columns (photo, painting, 3 results) of cells with the photo's aspect; short sides shown at CELL px.
    grid = images.read_image_uint8(out / "grid.jpg")
    colour = images.read_image_uint8(out / "colour.jpg")
    assert grid.shape[1] == PAD + 3 * (CELL + PAD)
    coffee_height, coffee_width = images.read_image_uint8(shared / "content" / "coffee.png").shape[:2]
    photo_height, photo_width = images.scaled_size(coffee_height, coffee_width, SIZE)
    assert colour.shape[1] == PAD + 5 * (math.ceil(photo_width * CELL / photo_height) + PAD)
    assert grid.shape[0] > PAD + 3 * (CELL + PAD)  # 3 rows of cells plus title and captions
    assert grid.std() > 20 and colour.std() > 20  # pictures, not blank canvases
    assert sorted(p.name for p in out.iterdir()) == ["CREDITS.md", "colour.jpg", "commands.json", "grid.jpg"]

    assert set(commands) == {"grid.jpg", "colour.jpg"}
    grid_entry, colour_entry = commands["grid.jpg"], commands["colour.jpg"]
    assert "--quick" in grid_entry["rerun"] and "--weights=random" in grid_entry["rerun"]
    settings = grid_entry["settings"]
    defaults = OptimizeConfig().resolved()  # the weights a run uses (style_weight is chosen per style loss)
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
    assert "content/coffee.png" in colour_entry["inputs"]
    _check_credits(credits, shared, [*grid_entry["inputs"], *colour_entry["inputs"]])


def test_quick_grid_then_colour_into_one_folder(made_shared, tmp_path):
    out = tmp_path / "gallery"
    common = ("--quick", "--weights=random", f"--shared={made_shared}", f"--out={out}")
    grid_run = _run("--only=grid", *common)
    assert grid_run.returncode == 0, grid_run.stderr[-3000:]
    assert set(_printed_entries(grid_run.stdout)) == {"grid.jpg"}
    colour_run = _run("--only=colour", *common)
    assert colour_run.returncode == 0, colour_run.stderr[-3000:]
    assert set(_printed_entries(colour_run.stdout)) == {"colour.jpg"}

    commands = json.loads((out / "commands.json").read_text())  # the colour run kept the grid entry
    assert commands["grid.jpg"]["command"].startswith("python experiments/make_gallery.py --only=grid")
    assert commands["grid.jpg"]["rerun"].startswith("python experiments/make_gallery.py --only=grid")
    assert commands["colour.jpg"]["rerun"].startswith("python experiments/make_gallery.py --only=colour")
    _check_grid_and_colour(out, made_shared, commands)


@pytest.mark.slow  # the made folder above covers the behaviour; this re-checks it on the real data
def test_quick_grid_and_colour_from_the_shared_data(shared_data, tmp_path):
    """The same pictures from the real ../shared/data, in one run (its SOURCES.csv names real authors)."""
    out = tmp_path / "gallery"
    result = _run("--quick", "--only=grid,colour", "--weights=random", f"--shared={shared_data}", f"--out={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    _check_grid_and_colour(out, shared_data, json.loads((out / "commands.json").read_text()))


def test_missing_shared_data_is_one_error_line(tmp_path):
    out = tmp_path / "gallery"
    result = _run("--quick", "--only=grid", f"--shared={tmp_path / 'nowhere'}", f"--out={out}")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr[-3000:]  # not even a log line
    assert helpers.one_error_line(result, "^error: shared data not found at ") == lines[0]
    assert str(tmp_path / "nowhere") in lines[0]
    assert not out.exists()


def test_unknown_section_is_refused(made_shared, tmp_path):
    result = _run("--quick", "--only=grid,sketch", f"--shared={made_shared}", f"--out={tmp_path / 'g'}")
    helpers.one_error_line(result, r"^error: --only: unknown section\(s\) sketch")
    assert not (tmp_path / "g").exists()


def test_a_missing_input_is_named_before_any_work(made_shared, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(made_shared, partial)
    (partial / "content" / "coffee.png").unlink()
    result = _run("--quick", "--only=grid,colour", "--weights=random", f"--shared={partial}",
                  f"--out={tmp_path / 'g'}")
    helpers.one_error_line(result, r"content/coffee\.png is missing")
    assert not (tmp_path / "g").exists()


@pytest.mark.slow
def test_quick_highres_and_cyclegan(shared_folder, tmp_path):
    out = tmp_path / "gallery"
    result = _run("--quick", "--only=highres,cyclegan", "--weights=random", f"--shared={shared_folder}",
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
