"""Running one engine call off the request thread: its progress streamed back, and Cancel.

`Stream(work, cancel)` runs `work(report)` in a worker thread; iterating the stream yields each `Update` the work
reports (only the newest when several arrive at once), and `Stream.result` holds what the work returned. Cancel
is cooperative: `report` raises `Cancelled` once the `cancel` event is set, so an engine stops at its next report
(the optimisation path reports after every chunk of iterations, video after every frame). Leaving the stream
early (the client went away) cancels the work and waits for it, so the device is free when the next job starts.

`Sessions` keeps each browser session's running job's cancel event, for its Cancel button.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np


class Cancelled(Exception):
    """The user pressed Cancel; raised inside the engine at its next progress report."""


@dataclasses.dataclass(frozen=True)
class Update:
    """Progress of a job: `fraction` done in [0, 1], a one-line `message`, and optionally the current image
    uint8 [H, W, 3]."""

    fraction: float
    message: str
    image: np.ndarray | None = None


Report = Callable[[Update], None]


class Stream:
    """Iterates the `Update`s of `work(report)` running in a worker thread; `result` is its return value.

    Args:
        work: the job; calls `report(update)` as it goes and returns its result.
        cancel: set it to make the next `report` raise `Cancelled` inside the work.

    Iteration re-raises whatever the work raised (`Cancelled` included) once its last update is out.
    """

    def __init__(self, work: Callable[[Report], Any], cancel: threading.Event):
        self.cancel = cancel
        self.result: Any = None
        self._messages: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, args=(work,), name="tfstyle-app-job", daemon=True)

    def _report(self, update: Update) -> None:
        if self.cancel.is_set():
            raise Cancelled()
        self._messages.put(("update", update))

    def _run(self, work: Callable[[Report], Any]) -> None:
        try:
            self._messages.put(("done", work(self._report)))
        except BaseException as error:  # noqa: BLE001 - handed to the iterating thread, which re-raises it
            self._messages.put(("error", error))

    def __iter__(self) -> Iterator[Update]:
        self._thread.start()
        try:
            while True:
                kind, value = self._messages.get()
                while kind == "update" and not self._messages.empty():  # skip to the newest
                    kind, value = self._messages.get()
                if kind == "update":
                    yield value
                elif kind == "done":
                    self.result = value
                    return
                else:
                    raise value
        finally:
            if self._thread.is_alive():  # left early: stop the work before the next job takes the device
                self.cancel.set()
                self._thread.join()


class Sessions:
    """The cancel event of each browser session's running job (by Gradio's session hash)."""

    def __init__(self):
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def start(self, session: str) -> threading.Event:
        with self._lock:
            event = self._events[session] = threading.Event()
            return event

    def finish(self, session: str, event: threading.Event) -> None:
        with self._lock:
            if self._events.get(session) is event:
                del self._events[session]

    def cancel(self, session: str) -> bool:
        """Asks the session's running job to stop; False when it has none."""
        with self._lock:
            event = self._events.get(session)
        if event is None:
            return False
        event.set()
        return True
