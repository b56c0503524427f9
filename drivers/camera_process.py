"""The door side of the camera recorder: starts it in its own process (or a thread) and talks to it.

The door side only ever writes without waiting (`RecorderHandle.notify` is one non-blocking
pipe write that drops the notice and reports False when the pipe is full; `send` puts on an
unbounded queue), so nothing here can delay a door decision.
`run_recorder` is a top-level function taking picklable arguments: safe with `spawn`. The
recorder's loop (drivers/camera_loop.py, with OpenCV and NumPy) is imported by it, in the
recorder, so the door process that imports this module carries neither (~75 MB).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.queues
import os
import queue
import threading
import time
from typing import Any, TypeVar

from drivers.camera_messages import (
    ClipRequest,
    NoticePipe,
    RecorderConfig,
    RecorderMessage,
    RecorderStopped,
    SetCapture,
    Stop,
    collect_until_stopped,
)

Message = TypeVar("Message", bound=RecorderMessage)


def run_recorder(
    config: RecorderConfig, commands: Any, notices: NoticePipe, output: Any, parent_pid: int | None = None
) -> None:
    """Entry point of the recorder process or thread: drivers/camera_loop.py's `run_recorder`,
    imported here so that OpenCV is loaded in the recorder and not where the handle lives."""
    from drivers.camera_loop import run_recorder as run_loop

    run_loop(config, commands, notices, output, parent_pid)


class RecorderHandle:
    """A recorder in its own process (spawn) or thread; the door side only puts, never waits."""

    def __init__(self, config: RecorderConfig, in_process: bool = True, notice_queue_size: int = 256) -> None:
        self.notices = NoticePipe(notice_queue_size)
        self.commands: queue.Queue[SetCapture | Stop] | multiprocessing.queues.Queue[SetCapture | Stop]
        self.output: queue.Queue[RecorderMessage] | multiprocessing.queues.Queue[RecorderMessage]
        if in_process:
            context = multiprocessing.get_context("spawn")
            self.commands, self.output = context.Queue(), context.Queue()
            self._worker: Any = context.Process(
                # The parent's pid from here, not getppid() there: the door process may die
                # while the child is still importing, and an orphan must notice that too.
                target=run_recorder,
                args=(config, self.commands, self.notices, self.output, os.getpid()),
                name="camera-recorder",
                daemon=True,
            )
        else:
            self.commands, self.output = queue.Queue(), queue.Queue()
            self._worker = threading.Thread(
                target=run_recorder,
                args=(config, self.commands, self.notices, self.output),
                name="camera-recorder",
                daemon=True,
            )

    def start(self) -> None:
        self._worker.start()

    def is_alive(self) -> bool:
        return self._worker.is_alive()

    @property
    def pid(self) -> int | None:
        """The recorder process's id (None in thread mode or before start)."""
        return getattr(self._worker, "pid", None)

    def send(self, command: SetCapture | Stop) -> None:
        """Commands are few and never dropped (unbounded queue)."""
        self.commands.put_nowait(command)

    def notify(self, request: ClipRequest) -> bool:
        """Queue a clip request without waiting; False (dropped) when the pipe is full."""
        return self.notices.put_nowait(request)

    def next_message(self, kind: type[Message], timeout: float) -> Message | None:
        """The next report of type `kind`, skipping others (the service pumps instead; this is
        for a caller that owns the handle alone, like a test or a benchmark)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = self.output.get(timeout=min(left, 0.1))
            except queue.Empty:
                continue
            if isinstance(message, kind):
                return message
        return None

    def stop(self, timeout: float = 10.0) -> list[RecorderMessage]:
        """Stop, finish the open files and return the messages not yet collected."""
        self.send(Stop())
        left: list[RecorderMessage] = collect_until_stopped(
            self.output, self._worker, RecorderStopped, timeout
        )
        if not self._worker.is_alive():
            self.notices.close()
        return left
