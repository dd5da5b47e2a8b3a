"""A resumable video job: frames are written as they finish into a work folder beside the output, and running
the same command again continues after the last finished frame.

The work folder `.<output name>.parts/` holds `job.json` (what is being made: input, engine, settings; a run
with other settings refuses to continue it) and the finished frames `frame_000001.png`, ... each written
atomically. When the last frame is done the output is made at once: a video file is encoded from the frames
(with the input's audio) under a hidden name and renamed into place; a frame-folder output is the work folder
renamed. So the output never exists half-made, and a crash or Ctrl-C loses at most the frame in progress.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator

import numpy as np

from tfstyle import files, images
from tfstyle.video import io

JOB_FILE = "job.json"


def work_folder(output: str) -> str:
    """`.<output name>.parts` beside `output`."""
    output = os.path.abspath(output.rstrip(os.sep))
    return os.path.join(os.path.dirname(output), f".{os.path.basename(output)}.parts")


class VideoJob:
    """Processes the frames of `input_path` into `output` with `process(index, frame) -> frame`, resumable.

    Args:
        input_path: a video file or a frame folder.
        output: a video file (its extension picks the container) or a folder for numbered frames.
        settings: what makes this job this job (engine, model, flags): JSON-serialisable; a work folder of a
            job with other settings is refused, not mixed.
        folder_fps: the frame rate of a frame-folder input.
    """

    def __init__(self, input_path: str, output: str, settings: dict, folder_fps: float = 24.0):
        self.input = input_path
        self.output = output.rstrip(os.sep)
        self.info = io.probe(input_path, folder_fps)
        self.to_video = io.is_video_file(self.output)
        if not self.to_video and os.path.splitext(self.output)[1].lower() in images.IMAGE_EXTENSIONS:
            raise ValueError(f"--output must be a video file ({', '.join(io.VIDEO_EXTENSIONS)}) or a folder, not "
                             f"an image: {self.output}")
        if os.path.exists(self.output):
            raise ValueError(f"--output exists already: {self.output} (remove it or choose another name)")
        files.check_writable(self.output)
        self.work = work_folder(self.output)
        self.settings = {"input": os.path.abspath(input_path), "frames": self.info.frames, **settings}

    def done_frames(self) -> int:
        """Frames already finished in the work folder (the consecutive ones from the first)."""
        count = 0
        while os.path.isfile(io.frame_path(self.work, count)):
            count += 1
        return count

    def start(self) -> int:
        """Creates or checks the work folder; returns the index of the first frame still to do."""
        job_path = os.path.join(self.work, JOB_FILE)
        if os.path.isdir(self.work):
            with open(job_path, encoding="utf-8") as file:
                saved = json.load(file)
            if saved != json.loads(json.dumps(self.settings)):
                changed = sorted(k for k in set(saved) | set(self.settings) if saved.get(k) != self.settings.get(k))
                raise ValueError(f"{self.work} holds an unfinished job with other settings ({', '.join(changed)}); "
                                 "run the same command again to finish it, or delete the folder to start over")
            return self.done_frames()
        os.makedirs(self.work)
        with files.atomic_path(job_path) as temp, open(temp, "w", encoding="utf-8") as file:
            json.dump(self.settings, file, indent=2)
        return 0

    def previous(self, index: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(input frame, finished output frame) at `index` - 1, to restart the temporal state; None at 0."""
        if index == 0:
            return None
        frame = next(io.read_frames(self.input, start=index - 1))
        return frame, images.read_image_uint8(io.frame_path(self.work, index - 1))

    def run(self, process: Callable[[int, np.ndarray], np.ndarray], progress=None) -> int:
        """Processes the remaining frames, then makes the output; returns the number of frames processed now."""
        start = self.start()
        processed = 0
        for index, frame in enumerate(io.read_frames(self.input, start=start), start=start):
            result = process(index, frame)
            with files.atomic_path(io.frame_path(self.work, index)) as temp:
                images.save_image(temp, result)
            processed += 1
            if progress is not None:
                progress.update(1)
        self.finish()
        return processed

    def frames(self) -> Iterator[np.ndarray]:
        for index in range(self.done_frames()):
            yield images.read_image_uint8(io.frame_path(self.work, index))

    def finish(self) -> None:
        """Makes the output from the finished frames and removes the work folder."""
        done = self.done_frames()
        if done != self.info.frames:
            raise RuntimeError(f"{done} of {self.info.frames} frames are finished in {self.work}")
        if self.to_video:
            audio = None if self.info.is_folder else self.input
            io.write_video(self.frames(), self.output, self.info.fps, audio_from=audio)
            shutil.rmtree(self.work)
        else:
            os.remove(os.path.join(self.work, JOB_FILE))
            os.replace(self.work, self.output)
