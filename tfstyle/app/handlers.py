"""What each button of the page does: checks the uploads, runs an engine (`engines`) as a streamed job (`jobs`),
writes the result and its command (`commands`), and turns a bad input into one line on the page (`gr.Error`).

`Handlers` holds the app's state: its config, the models found under `--models_dir` (`models.Catalog`), the
loaded models (`engines.ModelCache`), each session's running job (`jobs.Sessions`) and the folder results are
written to. Gradio calls its methods with the page's values; generator methods yield the outputs as they change.
"""

from __future__ import annotations

import dataclasses
import filecmp
import html
import logging
import os
import shutil
import tempfile
import time

import gradio as gr

from tfstyle import cli, images
from tfstyle.app import commands, engines, jobs, models, uploads
from tfstyle.app.config import AppConfig
from tfstyle.fast.config import ASSETS
from tfstyle.optimize.config import OptimizeConfig
from tfstyle.video.settings import VideoArgs

logger = logging.getLogger(__name__)

# The errors a user causes (bad upload, setting or model): their message is shown as it is, in one line.
USER_ERRORS = (cli.UserError, ValueError, FileNotFoundError, PermissionError, IsADirectoryError)
STYLE_CONTROLS = ("default", "strength", "style weight")  # how the Optimise panel sets the amount of style


def one_line(message) -> str:
    return " ".join(str(message).split())


def user_error(message, title: str = "Error") -> gr.Error:
    """The page's error toast for a user's mistake: its message in one line, logged without a traceback."""
    logger.warning("refused: %s", one_line(message))
    return gr.Error(one_line(message), title=title, print_exception=False)


def progress_bar(fraction: float, message: str = "") -> str:
    """The HTML of a progress bar at `fraction` in [0, 1] with a caption (inline styles: nothing is fetched)."""
    percent = max(0.0, min(1.0, fraction)) * 100
    return (f'<div class="tfstyle-progress" data-fraction="{fraction:.4f}">'
            f'<progress max="100" value="{percent:.1f}" style="width:100%"></progress>'
            f'<div>{html.escape(message)}</div></div>')


def shown_path(path: str) -> str:
    """How a command line names an input file: a bundled sample by its path in the package (relative to the
    working folder when inside it), any other upload by its own file name (the user's copy)."""
    name = os.path.basename(path)
    sample = os.path.join(ASSETS, name)
    if os.path.isfile(sample) and filecmp.cmp(path, sample, shallow=False):
        relative = os.path.relpath(sample)
        return sample if relative.startswith("..") else relative
    return name


def stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


class Handlers:
    """The page's callbacks, sharing one catalog of models, one model cache and one results folder.

    Args:
        config: the validated app settings.
        work_dir: where results are written (default: a new temporary folder).
    """

    def __init__(self, config: AppConfig, work_dir: str | None = None):
        self.config = config
        self.catalog = models.scan(config.models_dir)
        self.cache = engines.ModelCache()
        self.sessions = jobs.Sessions()
        self.work_dir = work_dir or tempfile.mkdtemp(prefix="tfstyle-app-")
        os.makedirs(self.work_dir, exist_ok=True)

    # -- uploads ---------------------------------------------------------------------------------

    def check_image(self, path: str | None, what: str = "image") -> str | None:
        """Raises gr.Error when an uploaded image breaks a limit (`uploads.check_image`); returns `path`."""
        if path is None:
            return None
        try:
            uploads.check_image(path, self.config.max_upload_bytes, self.config.max_pixels)
        except uploads.UploadRefused as error:
            raise user_error(error, f"{what} refused") from None
        return path

    def check_video(self, path: str | None) -> str | None:
        if path is None:
            return None
        c = self.config
        try:
            uploads.check_video(path, c.max_upload_bytes, c.max_pixels, c.max_video_seconds, c.max_video_frames)
        except uploads.UploadRefused as error:
            raise user_error(error, "video refused") from None
        return path

    def on_image_upload(self, path: str | None) -> None:
        """The picker's upload event: refuses a bad image at once (the run refuses it again)."""
        self.check_image(path)

    def on_video_upload(self, path: str | None) -> None:
        self.check_video(path)

    def _styles(self, style: str | None, style2: str | None) -> list[str]:
        styles = [self.check_image(path, "painting") for path in (style, style2) if path]
        if not styles:
            raise user_error("choose a painting (style image) first", title="no painting")
        return styles

    def _content(self, content: str | None) -> str:
        if not content:
            raise user_error("choose a photo (content image) first", title="no photo")
        return self.check_image(content, "photo")

    @staticmethod
    def _blend(styles: list[str], first_weight: float) -> tuple[float, ...]:
        """--style_blend for two paintings (the first's weight in [0, 1]); () for one."""
        return (float(first_weight), round(1.0 - float(first_weight), 6)) if len(styles) == 2 else ()

    # -- results ---------------------------------------------------------------------------------

    def _output_path(self, name: str) -> str:
        folder = tempfile.mkdtemp(dir=self.work_dir)
        return os.path.join(folder, name)

    def _save(self, image, name: str) -> str:
        path = self._output_path(name)
        images.save_image(path, image)
        return path

    # -- engines ---------------------------------------------------------------------------------

    def _stream(self, request: gr.Request | None, work):
        """Runs `work(report)` as this session's job; yields `jobs.Update`s, then returns the stream (`.result`).
        Bad input becomes gr.Error; `jobs.Cancelled` is re-raised for the caller."""
        session = request.session_hash if request is not None and request.session_hash else "local"
        cancel = self.sessions.start(session)
        stream = jobs.Stream(work, cancel)
        try:
            yield from stream
        except jobs.Cancelled:
            raise
        except USER_ERRORS as error:
            raise user_error(error) from None
        finally:
            self.sessions.finish(session, cancel)
        return stream

    def cancel(self, request: gr.Request) -> str:
        """The Cancel buttons: asks this session's running job to stop at its next report."""
        stopping = self.sessions.cancel(request.session_hash or "local")
        return "Cancelling..." if stopping else "Nothing is running."

    def optimize(self, content, style, style2, blend, image_size, iterations, optimizer, learning_rate,
                 style_control, strength, style_weight, content_weight, tv_weight, style_scale, preserve_colors,
                 init, style_loss, seed, style_mask, style_mask2, preserve_mask, request: gr.Request = None):
        """Optimise panel: yields (image, status, progress bar, command, download) as the run goes."""
        content = self._content(content)
        styles = self._styles(style, style2)
        masks = tuple(self.check_image(path, "mask") for path in (style_mask, style_mask2)[:len(styles)] if path)
        preserve = self.check_image(preserve_mask, "mask") if preserve_mask else None
        if style_control not in STYLE_CONTROLS:
            raise user_error(f"unknown style control {style_control!r}")
        try:
            config = OptimizeConfig(
                image_size=int(image_size), iterations=int(iterations), optimizer=optimizer,
                learning_rate=float(learning_rate), content_weight=float(content_weight),
                style_weight=float(style_weight) if style_control == "style weight" else None,
                strength=float(strength) if style_control == "strength" else None, tv_weight=float(tv_weight),
                style_scale=float(style_scale), preserve_colors=preserve_colors, init=init, style_loss=style_loss,
                seed=int(seed), style_blend=() if masks else self._blend(styles, blend), style_masks=masks,
                preserve_mask=preserve).validate(len(styles))
        except (ValueError, FileNotFoundError) as error:
            raise user_error(error) from None
        name = f"{stem(content)}_{stem(styles[0])}.png"
        shown = dataclasses.replace(config, style_masks=tuple(shown_path(p) for p in masks),
                                    preserve_mask=shown_path(preserve) if preserve else None)
        command = commands.optimize_command(shown_path(content), [shown_path(p) for p in styles], shown, name)
        start = time.perf_counter()
        yield None, "Starting...", progress_bar(0.0, "starting"), command, gr.DownloadButton(visible=False)
        try:
            stream = yield from self._watch(
                self._stream(request, lambda report: engines.optimize(content, styles, config, report)),
                command, start)
        except jobs.Cancelled:
            yield (gr.skip(), f"Cancelled after {time.perf_counter() - start:.1f} s.", progress_bar(0.0, "cancelled"),
                   command, gr.DownloadButton(visible=False))
            return
        path = self._save(stream.result, name)
        seconds = time.perf_counter() - start
        yield (path, f"Done in {seconds:.1f} s: {stream.result.shape[1]}x{stream.result.shape[0]} px.",
               progress_bar(1.0, "done"), command, gr.DownloadButton(value=path, visible=True))

    @staticmethod
    def _watch(updates, command: str, start: float):
        """Turns a job's `Update`s into the panel's outputs (image, status, bar, command, download); returns what
        the `updates` generator returns."""
        while True:
            try:
                update = next(updates)
            except StopIteration as done:
                return done.value
            image = update.image if update.image is not None else gr.skip()
            status = f"{update.message} ({time.perf_counter() - start:.0f} s)"
            yield image, status, progress_bar(update.fraction, update.message), command, gr.skip()

    def fast(self, content, style, style2, blend, model_name, alpha, preserve_colors, request: gr.Request = None):
        """Fast panel: a feed-forward network; returns (image, status, command, download)."""
        content = self._content(content)
        try:
            entry = self.catalog.get(model_name, "fast", "arbitrary")
        except ValueError as error:
            raise user_error(error) from None
        styles = self._styles(style, style2) if entry.kind == "arbitrary" else []
        blend_weights = self._blend(styles, blend)
        alpha = float(alpha) if entry.kind == "arbitrary" else 1.0
        name = f"{stem(content)}_{'_'.join(stem(p) for p in styles) or os.path.basename(entry.path)}.png"
        start = time.perf_counter()
        loaded = ("fast", entry.path, engines.FAST_PRECISION) in self.cache
        try:
            result = engines.fast(self.cache, entry.path, content, styles, blend_weights or None, alpha,
                                  preserve_colors)
        except USER_ERRORS as error:
            raise user_error(error) from None
        seconds = time.perf_counter() - start
        path = self._save(result, name)
        command = commands.fast_command(entry.shown, shown_path(content), [shown_path(p) for p in styles],
                                        blend_weights, alpha, preserve_colors, name)
        status = (f"Done in {seconds:.2f} s{'' if loaded else ' (model loaded first)'}: "
                  f"{result.shape[1]}x{result.shape[0]} px.")
        return path, status, command, gr.DownloadButton(value=path, visible=True)

    def translate(self, content, model_name, direction, request: gr.Request = None):
        """Translate panel: a CycleGAN run's generator (either direction) or a SavedModel export."""
        content = self._content(content)
        try:
            entry = self.catalog.get(model_name, "cyclegan", "savedmodel")
        except ValueError as error:
            raise user_error(error) from None
        name = f"{stem(content)}_{os.path.basename(entry.path)}.png"
        start = time.perf_counter()
        try:
            if entry.kind == "cyclegan":
                result = engines.translate_cyclegan(self.cache, entry.path, direction, content)
                command = commands.translate_command(entry.shown, direction, shown_path(content), name)
            else:
                result = engines.translate_saved_model(self.cache, entry.path, content)
                command = commands.saved_model_command(entry.shown, shown_path(content), name)
        except USER_ERRORS as error:
            raise user_error(error) from None
        path = self._save(result, name)
        status = f"Done in {time.perf_counter() - start:.2f} s: {result.shape[1]}x{result.shape[0]} px."
        return path, status, command, gr.DownloadButton(value=path, visible=True)

    def video(self, clip, style, style2, blend, model_name, direction, alpha, preserve_colors, temporal,
              request: gr.Request = None):
        """Video panel: paints every frame with a feed-forward network or a CycleGAN generator; yields (video,
        status, progress bar, command, download)."""
        if not clip:
            raise user_error("upload a clip first", title="no clip")
        clip = self.check_video(clip)
        try:
            entry = self.catalog.get(model_name, "fast", "arbitrary", "cyclegan")
        except ValueError as error:
            raise user_error(error) from None
        engine = {"fast": "fast", "arbitrary": "adain", "cyclegan": "cyclegan"}[entry.kind]
        styles = self._styles(style, style2) if engine == "adain" else []
        name = f"{stem(clip)}_{os.path.basename(entry.path)}.mp4"
        output = self._output_path(name)
        settings = dict(engine=engine, model_dir=entry.path if entry.shown else "", style=tuple(styles),
                        style_blend=self._blend(styles, blend), temporal=temporal,
                        alpha=float(alpha) if engine == "adain" else 1.0,
                        preserve_colors=preserve_colors if engine != "cyclegan" else "none",
                        direction=direction if engine == "cyclegan" else "a2b")
        args = VideoArgs(input=clip, output=output, **settings)
        shown = dataclasses.replace(args, input=os.path.basename(clip), output=name, model_dir=entry.shown,
                                    style=tuple(shown_path(p) for p in styles))
        command = commands.video_command(shown)
        start = time.perf_counter()
        yield None, "Starting...", progress_bar(0.0, "starting"), command, gr.DownloadButton(visible=False)
        try:
            yield from self._watch(self._stream(request, lambda report: engines.video(args, report)), command, start)
        except jobs.Cancelled:
            shutil.rmtree(os.path.dirname(output), ignore_errors=True)
            yield (None, f"Cancelled after {time.perf_counter() - start:.1f} s.", progress_bar(0.0, "cancelled"),
                   command, gr.DownloadButton(visible=False))
            return
        except BaseException:
            shutil.rmtree(os.path.dirname(output), ignore_errors=True)  # the unfinished frames
            raise
        seconds = time.perf_counter() - start
        yield (output, f"Done in {seconds:.1f} s.", progress_bar(1.0, "done"), command,
               gr.DownloadButton(value=output, visible=True))

    def rescan(self):
        """The Rescan button: looks through --models_dir again; returns the three panels' model lists."""
        self.catalog = models.scan(self.config.models_dir)
        lists = (self.catalog.names("fast", "arbitrary"), self.catalog.names("cyclegan", "savedmodel"),
                 self.catalog.names("fast", "arbitrary", "cyclegan"))
        return tuple(gr.Dropdown(choices=names, value=names[0] if names else None) for names in lists)
