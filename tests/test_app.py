"""The web app without a browser: upload checks, the commands beside each result (run for real: same pixels),
model discovery under --models_dir, the streamed jobs and Cancel, and the CLI's bad-input errors.

The browser tests are in test_app_browser.py.
"""

from __future__ import annotations

import shlex
import struct
import threading
import time
import zlib

import helpers
import numpy as np
import pytest
from PIL import Image

from tfstyle.app import commands, jobs, uploads
from tfstyle.app.config import AppConfig
from tfstyle.optimize.config import OptimizeConfig
from tfstyle.video.settings import VideoArgs

MB = 1_000_000


def _png_claiming(path, width: int, height: int) -> None:
    """A PNG whose header says `width` x `height` but whose data is a few bytes: decoding it would fail (or
    allocate width x height x 3 bytes), so a check that answers with its size read the header only."""
    Image.new("RGB", (4, 4)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = data[12:29]  # type + 13 bytes of IHDR data; CRC follows
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    path.write_bytes(bytes(data))


# -- uploads ---------------------------------------------------------------------------------------


def test_an_image_within_the_limits_passes_and_gives_its_size(tmp_path):
    Image.new("RGB", (64, 48)).save(tmp_path / "photo.jpg")
    assert uploads.check_image(tmp_path / "photo.jpg", MB, 64 * 48) == (48, 64)


@pytest.mark.parametrize("width,height,pattern", [
    (6000, 5000, r"6000x5000 px = 30\.0 megapixels; the limit is 25 megapixels \(--max_pixels\)"),
    (100_000, 100_000, r"too many pixels to decode safely; the limit is 25 megapixels"),  # PIL's own bomb limit
])
def test_a_decompression_bomb_is_refused_from_its_header(tmp_path, width, height, pattern):
    _png_claiming(tmp_path / "bomb.png", width, height)
    assert (tmp_path / "bomb.png").stat().st_size < 100
    with pytest.raises(uploads.UploadRefused, match=pattern):
        uploads.check_image(tmp_path / "bomb.png", MB, 25_000_000)


def test_uploads_are_typed_by_content_not_by_name(tmp_path):
    (tmp_path / "script.png").write_text("<svg onload=alert(1)></svg>")
    with pytest.raises(uploads.UploadRefused, match=r"^script\.png is not an image"):
        uploads.check_image(tmp_path / "script.png", MB, 10**6)
    Image.new("RGB", (8, 8)).save(tmp_path / "photo.ppm")
    with pytest.raises(uploads.UploadRefused, match="is a PPM image; only JPEG, PNG"):
        uploads.check_image(tmp_path / "photo.ppm", MB, 10**6)
    Image.new("RGB", (8, 8)).save(tmp_path / "clip.mp4", format="PNG")  # an image named like a clip
    with pytest.raises(uploads.UploadRefused, match=r"clip\.mp4 is not a video"):
        uploads.check_video(tmp_path / "clip.mp4", MB, 10**6, 10.0, 100)


def test_an_upload_over_the_byte_limit_is_refused(tmp_path):
    (tmp_path / "big.png").write_bytes(b"\0" * 2000)
    with pytest.raises(uploads.UploadRefused, match=r"big\.png is 0\.0 MB; the limit is 0\.001 MB \(--max_upload_mb\)"):
        uploads.check_image(tmp_path / "big.png", 1000, 10**6)


def test_a_clip_is_checked_from_its_container_before_any_frame_is_decoded(tmp_path):
    pytest.importorskip("av")
    from tfstyle.video import io

    frames = [np.full((48, 64, 3), 10 * index, np.uint8) for index in range(12)]
    io.write_video(frames, tmp_path / "clip.mp4", 24)
    header = uploads.check_video(tmp_path / "clip.mp4", MB, 64 * 48, 1.0, 100)
    assert (header.width, header.height, header.frames) == (64, 48, 12)
    assert header.seconds == pytest.approx(0.5, abs=0.05)
    with pytest.raises(uploads.UploadRefused, match=r"lasts 0\.5 s; the limit is 0\.25 s \(--max_video_seconds\)"):
        uploads.check_video(tmp_path / "clip.mp4", MB, 64 * 48, 0.25, 100)
    with pytest.raises(uploads.UploadRefused, match=r"has 12 frames; the limit is 10 \(--max_video_frames\)"):
        uploads.check_video(tmp_path / "clip.mp4", MB, 64 * 48, 1.0, 10)
    with pytest.raises(uploads.UploadRefused, match=r"a frame of clip\.mp4 is 64x48 px"):
        uploads.check_video(tmp_path / "clip.mp4", MB, 1000, 1.0, 100)


# -- commands --------------------------------------------------------------------------------------


def test_the_optimise_command_names_only_what_differs_from_the_cli_defaults():
    config = OptimizeConfig(image_size=64, iterations=30)
    assert commands.optimize_command("a photo.jpg", ["b.jpg"], config, "out.png") == (
        "python -m tfstyle.optimize --content 'a photo.jpg' --style b.jpg --image_size 64 --iterations 30 "
        "--output out.png")
    config = OptimizeConfig(image_size=64, iterations=30, strength=0.75, style_blend=(0.3, 0.7), jit=True,
                            optimizer="adam", learning_rate=1e-05, preserve_mask="keep.png")
    line = commands.optimize_command("p.jpg", ["b.jpg", "c.jpg"], config, "out.png")
    assert shlex.split(line)[3:] == [
        "--content", "p.jpg", "--style", "b.jpg,c.jpg", "--image_size", "64", "--iterations", "30", "--optimizer",
        "adam", "--learning_rate", "1e-05", "--strength", "0.75", "--style_blend", "0.3,0.7", "--preserve_mask",
        "keep.png", "--jit", "--output", "out.png"]


def test_the_other_commands():
    assert commands.fast_command("", "p.jpg", output="o.png") == (
        "python -m tfstyle.fast.stylize --input p.jpg --output o.png")
    assert commands.fast_command("runs/adain", "p.jpg", ["a.jpg", "b.jpg"], (0.25, 0.75), 0.5, "luminance",
                                 "o.png") == (
        "python -m tfstyle.fast.stylize --model_dir runs/adain --input p.jpg --style a.jpg,b.jpg --style_blend "
        "0.25,0.75 --alpha 0.5 --preserve_colors luminance --output o.png")
    assert commands.translate_command("runs/p2p", "b2a", "p.jpg", "o.png") == (
        "python -m tfstyle.cyclegan.translate --model_dir runs/p2p --direction b2a --input p.jpg --output o.png")
    args = VideoArgs(input="clip.mp4", output="out.mp4", engine="adain", model_dir="runs/adain", style=("a.jpg",),
                     alpha=0.8, temporal="none")
    assert commands.video_command(args) == (
        "python -m tfstyle.video --input clip.mp4 --output out.mp4 --engine adain --model_dir runs/adain --style "
        "a.jpg --alpha 0.8 --temporal none")


def _flags_of(helpfull: str) -> set[str]:
    import re

    return set(re.findall(r"^\s+--(?:\[no\])?(\w+)", helpfull, re.M))


def test_every_flag_the_commands_write_is_a_flag_of_the_real_cli():
    """The commands' flags checked against each CLI's own --helpfull (four processes at once)."""
    import subprocess
    import sys

    modules = ("tfstyle.optimize", "tfstyle.fast.stylize", "tfstyle.cyclegan.translate", "tfstyle.video")
    processes = {module: subprocess.Popen([sys.executable, "-m", module, "--helpfull"], stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True, cwd=helpers.REPO, env=helpers.env())
                 for module in modules}
    known = {module: _flags_of(process.communicate(timeout=300)[0]) for module, process in processes.items()}
    every_optimize = OptimizeConfig(image_size=64, iterations=3, strength=0.5, style_blend=(1.0,),
                                    style_masks=("m.png",), preserve_mask="k.png", jit=True, optimizer="adam",
                                    learning_rate=0.1, content_weight=2.0, tv_weight=0.0, style_scale=2.0,
                                    preserve_colors="luminance", init="noise", style_loss="mean_cov", seed=3)
    lines = {
        "tfstyle.optimize": commands.optimize_command("p.jpg", ["s.jpg"], every_optimize, "o.png"),
        "tfstyle.fast.stylize": commands.fast_command("runs/x", "p.jpg", ["a.jpg", "b.jpg"], (0.5, 0.5), 0.5,
                                                      "histogram", "o.png"),
        "tfstyle.cyclegan.translate": commands.translate_command("runs/x", "b2a", "p.jpg", "o.png"),
        "tfstyle.video": commands.video_command(VideoArgs(
            input="c.mp4", output="o.mp4", engine="cyclegan", model_dir="runs/x", direction="b2a", alpha=0.5,
            style=("a.jpg",), style_blend=(1.0,), preserve_colors="luminance", temporal="none",
            temporal_strength=0.5)),
    }
    for module, line in lines.items():
        written = {word[2:].removeprefix("no") if word[2:] not in known[module] else word[2:]
                   for word in shlex.split(line) if word.startswith("--")}
        assert written <= known[module], (module, written - known[module])
        assert len(written) >= 4


# -- the app's config and CLI ----------------------------------------------------------------------


@pytest.mark.parametrize("overrides,pattern", [
    (dict(port=0), r"--port must be in 1\.\.65535, got 0"),
    (dict(port=70000), r"--port must be in 1\.\.65535"),
    (dict(host=" "), "--host must not be empty"),
    (dict(max_pixels=10), "--max_pixels must be at least 4096"),
    (dict(max_upload_mb=0), "--max_upload_mb must be at least 1"),
    (dict(max_video_seconds=0.0), "--max_video_seconds must be > 0"),
])
def test_the_config_refuses_bad_settings_by_name(overrides, pattern):
    with pytest.raises(ValueError, match=pattern):
        AppConfig(**overrides).validate()


def test_only_the_default_models_dir_may_be_missing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert AppConfig().validate().models_dir == "runs"  # absent: only the bundled network is offered
    with pytest.raises(FileNotFoundError, match="--models_dir does not exist: elsewhere"):
        AppConfig(models_dir="elsewhere").validate()
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="--models_dir is not a folder: file"):
        AppConfig(models_dir="file").validate()
    assert AppConfig(host="0.0.0.0", port=8080).url == "http://127.0.0.1:8080"


@pytest.mark.parametrize("args,pattern", [
    (["--models_dir", "/no/such/folder"], "--models_dir does not exist: /no/such/folder"),
    (["--port", "0"], r"--port must be in 1\.\.65535, got 0"),
    (["--port", "http"], "--port"),
    (["serve"], "unexpected arguments: serve"),
])
def test_the_cli_gives_one_error_line_for_bad_input(args, pattern):
    result = helpers.run_module("tfstyle.app", *args, timeout=120)
    helpers.one_error_line(result, pattern)
    assert "tfstyle app:" not in result.stdout


def test_the_cli_help_lists_its_flags():
    result = helpers.run_module("tfstyle.app", "--help", timeout=120)
    assert result.returncode == 0
    for flag in ("--host", "--port", "--models_dir", "--max_upload_mb", "--max_pixels", "--max_video_seconds"):
        assert flag in result.stdout


# -- jobs ------------------------------------------------------------------------------------------


def test_a_stream_hands_over_updates_and_the_result():
    def work(report):
        for step in range(3):
            report(jobs.Update((step + 1) / 3, f"step {step + 1}"))
            time.sleep(0.02)
        return "painted"

    stream = jobs.Stream(work, threading.Event())
    messages = [update.message for update in stream]
    assert messages and messages[-1] == "step 3" and set(messages) <= {"step 1", "step 2", "step 3"}
    assert stream.result == "painted"


def test_cancel_stops_the_work_at_its_next_report_and_errors_reach_the_caller():
    cancel, steps = threading.Event(), []

    def work(report):
        for step in range(1000):
            steps.append(step)
            report(jobs.Update(step / 1000, "working"))
            time.sleep(0.005)

    stream = iter(jobs.Stream(work, cancel))
    next(stream)
    cancel.set()
    with pytest.raises(jobs.Cancelled):
        for _ in stream:
            pass
    assert len(steps) < 1000
    count = len(steps)
    time.sleep(0.05)
    assert len(steps) == count  # stopped, not running on behind the page's back

    def broken(report):
        raise ValueError("bad painting")

    with pytest.raises(ValueError, match="bad painting"):
        list(jobs.Stream(broken, threading.Event()))


def test_leaving_a_stream_early_stops_its_work():
    started, stopped = threading.Event(), threading.Event()

    def work(report):
        started.set()
        try:
            while True:
                report(jobs.Update(0.0, "again"))
                time.sleep(0.005)
        finally:
            stopped.set()

    cancel = threading.Event()
    stream = iter(jobs.Stream(work, cancel))
    next(stream)
    stream.close()  # the client went away
    assert cancel.is_set() and stopped.is_set()


def test_sessions_cancel_only_their_own_job():
    sessions = jobs.Sessions()
    mine, theirs = sessions.start("mine"), sessions.start("theirs")
    assert sessions.cancel("mine") and mine.is_set() and not theirs.is_set()
    sessions.finish("mine", mine)
    assert not sessions.cancel("mine")


# -- models under --models_dir, and each engine's command giving the app's own pixels -------------------


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """Tiny runs trained here (random VGG, narrow models, one step): an AdaIN run, a CycleGAN run and its a2b
    generator exported as a SavedModel; plus folders that are not models."""
    from tfstyle.cyclegan import config as cyclegan_config
    from tfstyle.cyclegan import inference as cyclegan_inference
    from tfstyle.cyclegan import trainer
    from tfstyle.fast import config as fast_config
    from tfstyle.fast import task

    root = tmp_path_factory.mktemp("models")
    sets = helpers.make_two_domain_set(tmp_path_factory.mktemp("sets"), count_a=2, count_b=2)
    task.train(fast_config.tiny(arbitrary=True, style_dir=str(sets / "B"), content_dir=str(sets / "A"),
                                model_dir=str(root / "styles" / "adain"), steps=1))
    trainer.train(cyclegan_config.tiny(domain_a=str(sets / "A"), domain_b=str(sets / "B"),
                                       model_dir=str(root / "p2p"), max_steps=1))
    generator, _ = cyclegan_inference.load_generator(root / "p2p", "a2b")
    cyclegan_inference.export_generator(generator, root / "exports" / "p2p_a2b")
    (root / "untrained").mkdir()
    (root / "untrained" / "config.json").write_text('{"task": "fast_style"}')
    (root / "other").mkdir()
    (root / "other" / "config.json").write_text('{"task": "something_else"}')
    (root / ".hidden").mkdir()
    return root


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (36, 52, 3), dtype=np.uint8)).save(folder / "photo.png")
    Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(folder / "painting.png")
    Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(folder / "other painting.png")
    return folder


@pytest.fixture(scope="module")
def handlers(models_dir, tmp_path_factory):
    from tfstyle.app.handlers import Handlers

    return Handlers(AppConfig(models_dir=str(models_dir)).validate(), str(tmp_path_factory.mktemp("results")))


@pytest.fixture(scope="module")
def scanned_dir(tmp_path_factory):
    """What a scan reads, without training: run folders (config.json as the trainers write it, a checkpoint
    index file), a SavedModel exported from a one-layer network, and folders that are not models."""
    import keras

    from tfstyle import export
    from tfstyle.cyclegan import config as cyclegan_config
    from tfstyle.fast import config as fast_config
    from tfstyle.training import rundir

    root = tmp_path_factory.mktemp("scanned")
    for folder, config, task in ((root / "styles" / "adain", fast_config.tiny(arbitrary=True), fast_config.TASK),
                                 (root / "starry", fast_config.tiny(), fast_config.TASK),
                                 (root / "p2p", cyclegan_config.tiny(), cyclegan_config.TASK),
                                 (root / "untrained", fast_config.tiny(), fast_config.TASK)):
        rundir.RunDir(folder).save_config(config, task)
        if folder.name != "untrained":
            (folder / "checkpoints").mkdir()
            (folder / "checkpoints" / "ckpt-1.index").write_bytes(b"")
    (root / "other").mkdir()
    (root / "other" / "config.json").write_text('{"task": "something_else"}')
    (root / ".hidden" / "p2p").mkdir(parents=True)
    (root / "deep" / "a" / "b" / "c" / "d").mkdir(parents=True)
    rundir.RunDir(root / "deep" / "a" / "b" / "c" / "d").save_config(fast_config.tiny(), fast_config.TASK)
    inputs = keras.Input((None, None, 3))
    network = keras.Model(inputs, keras.layers.Conv2D(3, 1)(inputs))
    export.export_model(network, root / "exports" / "one_layer", "savedmodel", multiple=4, min_size=8,
                        value_range="unit")
    return root


def test_scan_finds_each_kind_by_name_and_skips_what_is_not_a_trained_model(scanned_dir):
    from tfstyle.app import models

    catalog = models.scan(scanned_dir)
    found = {entry.name: (entry.kind, entry.shown) for entry in catalog.entries}
    expected = {
        "starry_night (bundled)": ("fast", ""),
        "p2p": ("cyclegan", str(scanned_dir / "p2p")),
        "starry": ("fast", str(scanned_dir / "starry")),
        "exports/one_layer/1": ("savedmodel", str(scanned_dir / "exports" / "one_layer" / "1")),
        "styles/adain": ("arbitrary", str(scanned_dir / "styles" / "adain")),
    }
    if models._magenta_converted():  # listed once python -m tfstyle.weights fetch has run
        expected[models.MAGENTA_ENTRY] = ("arbitrary", "magenta")
    assert found == expected
    assert catalog.get("p2p", "cyclegan").path == str(scanned_dir / "p2p")
    for name in ("untrained", "other", str(scanned_dir / "p2p"), "../p2p", "p2p/../p2p", ".hidden/p2p"):
        with pytest.raises(ValueError, match="no such model"):
            catalog.get(name, "cyclegan", "fast", "arbitrary", "savedmodel")
    with pytest.raises(ValueError, match="no such model"):
        catalog.get("p2p", "fast")  # a CycleGAN run is not a Fast model
    assert models.scan(scanned_dir / "missing").names("fast") == ["starry_night (bundled)"]


def test_a_bad_model_choice_or_upload_is_one_line_on_the_page(scanned_dir, pictures, tmp_path):
    import gradio as gr

    from tfstyle.app.handlers import Handlers

    handlers = Handlers(AppConfig(models_dir=str(scanned_dir)).validate(), str(tmp_path))
    with pytest.raises(gr.Error, match="no such model: '/etc'"):
        handlers.fast(str(pictures / "photo.png"), None, None, 0.5, "/etc", 1.0, "none")
    _png_claiming(tmp_path / "bomb.png", 6000, 5000)
    with pytest.raises(gr.Error, match=r"bomb\.png is 6000x5000 px = 30\.0 megapixels"):
        handlers.translate(str(tmp_path / "bomb.png"), "p2p", "a2b")
    with pytest.raises(gr.Error, match="choose a painting"):
        handlers.fast(str(pictures / "photo.png"), None, None, 0.5, "styles/adain", 1.0, "none")
    with pytest.raises(gr.Error, match="no checkpoint|not found|No such"):  # a model that fails to load
        handlers.fast(str(pictures / "photo.png"), None, None, 0.5, "starry", 1.0, "none")


def _run_command(line: str, cwd) -> None:
    import subprocess
    import sys

    words = shlex.split(line)
    assert words[0] == "python"
    result = subprocess.run([sys.executable, *words[1:]], cwd=cwd, env=helpers.env(), capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]


def _same_pixels(app_result: str, command_output) -> None:
    from tfstyle import images

    np.testing.assert_array_equal(images.read_image_uint8(app_result), images.read_image_uint8(command_output))


@pytest.mark.slow
def test_fast_with_an_arbitrary_network_and_its_command_make_the_same_picture(handlers, pictures, tmp_path):
    path, status, command, _ = handlers.fast(str(pictures / "photo.png"), str(pictures / "painting.png"),
                                             str(pictures / "other painting.png"), 0.7, "styles/adain", 0.5,
                                             "luminance")
    assert path.endswith("photo_painting_other painting.png") and "Done in" in status and "52x36 px" in status
    assert "--style 'painting.png,other painting.png' --style_blend 0.7,0.3 --alpha 0.5 --preserve_colors " \
           "luminance" in command
    _run_command(command, cwd=pictures)
    _same_pixels(path, pictures / "photo_painting_other painting.png")
    assert "model loaded first" not in handlers.fast(str(pictures / "photo.png"), str(pictures / "painting.png"),
                                                     None, 0.5, "styles/adain", 1.0, "none")[1]


@pytest.mark.slow
def test_translate_in_both_directions_and_a_saved_model_match_their_commands(handlers, pictures):
    outputs = {}
    for model, direction in (("p2p", "b2a"), ("exports/p2p_a2b/1", "a2b")):
        path, status, command, _ = handlers.translate(str(pictures / "photo.png"), model, direction)
        assert "52x36 px" in status
        _run_command(command, cwd=pictures)
        name = path.rsplit("/", 1)[1]
        _same_pixels(path, pictures / name)
        outputs[model] = path
    a2b = handlers.translate(str(pictures / "photo.png"), "p2p", "a2b")[0]
    _same_pixels(a2b, outputs["exports/p2p_a2b/1"])  # the export is the run's a2b generator


def test_the_optimise_engine_reports_each_chunk_with_the_current_image(pictures):
    from tfstyle.app import engines

    updates = []
    result = engines.optimize(str(pictures / "photo.png"), [str(pictures / "painting.png")],
                              OptimizeConfig(image_size=64, iterations=30, weights="random", precision="float32"),
                              updates.append)
    previews = [update for update in updates if update.image is not None]
    assert [update.fraction for update in previews] == pytest.approx([1 / 3, 2 / 3, 1.0])
    assert all(update.image.shape == (44, 64, 3) and update.image.dtype == np.uint8 for update in previews)
    assert result.shape == (44, 64, 3) and result.dtype == np.uint8
    np.testing.assert_array_equal(previews[-1].image, result)


@pytest.mark.slow
def test_optimise_in_the_app_and_its_command_make_the_same_picture(handlers, pictures, real_vgg_weights):
    outputs = list(handlers.optimize(
        str(pictures / "photo.png"), str(pictures / "painting.png"), None, 0.5, 64, 20, "lbfgs", 0.02, "strength",
        0.6, 0.005, 1.0, 1e4, 1.0, "histogram", "content", "gram", 0, None, None, None))
    path, status, _, command, _ = outputs[-1]
    assert "Done" in status and len(outputs) >= 3
    assert "--strength 0.6 --preserve_colors histogram" in command
    _run_command(command, cwd=pictures)
    _same_pixels(path, pictures / "photo_painting.png")


def _clip(path, count: int = 4):
    from tfstyle.video import io

    ramp = np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], (48, 1, 3))
    io.write_video([np.roll(ramp, 3 * index, axis=1) for index in range(count)], path, 24)
    return path


def test_video_paints_every_frame_with_progress_and_its_command(tmp_path):
    pytest.importorskip("av")
    from tfstyle.app.handlers import Handlers
    from tfstyle.video import io

    handlers = Handlers(AppConfig(models_dir=str(tmp_path)).validate(), str(tmp_path / "results"))
    clip = _clip(tmp_path / "clip.mp4")
    outputs = list(handlers.video(str(clip), None, None, 0.5, "starry_night (bundled)", "a2b", 1.0, "none", "flow"))
    statuses = [output[1] for output in outputs]
    assert [status.split(" (")[0] for status in statuses[2:-1]] == [f"frame {i}/4" for i in range(1, 5)]
    path, status, _, command, _ = outputs[-1]
    assert status.startswith("Done") and command == (
        "python -m tfstyle.video --input clip.mp4 --output clip_starry_night.mp4")
    info = io.probe(path)
    assert (info.frames, info.width, info.height) == (4, 64, 48)
