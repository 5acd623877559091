"""One video output on its own thread: the frame loop hands over the newest frame and never
waits; the thread sends whatever is newest (an older frame not yet sent is dropped, counted).
An output that fails mid-show is logged once and stops; the show goes on."""

from __future__ import annotations

import logging
import threading
from typing import Protocol

import numpy as np

log = logging.getLogger(__name__)


class FrameTarget(Protocol):
    """What an output sends to: an NDI sender, a virtual camera, a test's fake."""

    def send(self, rgba: np.ndarray) -> None: ...

    def close(self) -> None: ...


class ThreadedOutput:
    def __init__(self, name: str, target: FrameTarget):
        self.name = name
        self.target = target
        self.sent = 0
        self.dropped = 0  # frames replaced by a newer one before the thread took them
        self.error: str | None = None
        self._pending: np.ndarray | None = None
        self._ready = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=f"output-{name}", daemon=True)
        self._thread.start()

    @property
    def failed(self) -> bool:
        return self.error is not None

    def send(self, rgba: np.ndarray) -> None:
        """Never blocks. `rgba` is the frame loop's fresh read-back: kept as it is, not copied."""
        with self._ready:
            if self._pending is not None:
                self.dropped += 1
            self._pending = rgba
            self._ready.notify()

    def _run(self) -> None:
        while True:
            with self._ready:
                while self._pending is None and not self._closing:
                    self._ready.wait()
                if self._closing:
                    return
                frame, self._pending = self._pending, None
            try:
                self.target.send(frame)
                self.sent += 1
            except Exception as e:  # a receiver or device gone mid-show: this output stops, the show goes on
                self.error = " ".join(str(e).split()) or type(e).__name__
                log.error("%s output failed: %s; dropped, the show goes on", self.name, self.error)
                return

    def close(self) -> None:
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join(timeout=5.0)
        if self._thread.is_alive():  # a send stuck in the library: closing under it could crash the process
            log.warning("%s output: a send is still stuck after 5 s; left open", self.name)
            return
        try:
            self.target.close()
        except Exception as e:  # closing must not stop the rest of the show's clean-up
            log.warning("%s output: closing failed: %s", self.name, e)
        log.info("%s output: %d frames sent, %d dropped", self.name, self.sent, self.dropped)
