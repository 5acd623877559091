"""Frame timing: exact time for offline renders, paced real time for live shows.

`tick()` starts a frame and returns (t, dt): the frame's time since the first tick and the time
since the previous frame. The first tick gives (0, 0), so the sum of all dts is t and frame k of
an offline render shows exactly the state at t = k / fps.

- offline: t = k / fps and dt = 1 / fps (0 for the first frame), whatever the wall clock says.
- live: real time. tick() sleeps until the frame's deadline (one period after the previous
  deadline) so the show runs at `fps`, not faster. A frame that starts more than half a period
  after its deadline is late; the whole periods it missed are counted as dropped, and the
  schedule restarts from now rather than rushing to catch up.

`stats()` describes the real (wall-clock) rate in both modes, over a rolling window: in offline
renders it is the render speed. The time and sleep functions can be injected for tests.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable

import numpy as np


class FrameClock:
    def __init__(
        self,
        fps: float,
        offline: bool = False,
        *,
        window: int = 120,
        time_fn: Callable[[], float] = time.perf_counter,
        sleep_fn: Callable[[float], None] = time.sleep,
        wake: threading.Event | None = None,
    ):
        if not fps > 0:
            raise ValueError(f"frame clock: fps {fps}; expected > 0")
        self.fps = float(fps)
        self.period = 1.0 / self.fps
        self.offline = bool(offline)
        self._time = time_fn
        self._sleep_fn = sleep_fn
        self.wake = wake  # live: set (e.g. by an OSC write) to start the next frame early
        self.frame = -1  # index of the current frame; -1 before the first tick
        self.t = 0.0
        self.late = 0  # live: frames that started more than half a period after their deadline
        self.dropped = 0  # live: whole periods skipped by late frames
        self._start: float | None = None
        self._deadline = 0.0
        self._last_wall: float | None = None
        self._wall_dts: deque[float] = deque(maxlen=max(2, int(window)))

    def tick(self) -> tuple[float, float]:
        """Begin the next frame; returns (t, dt) in seconds."""
        self.frame += 1
        if self.offline:
            t = self.frame / self.fps  # exact: no accumulated rounding
        else:
            t = self._live_time()
        dt = t - self.t if self.frame > 0 else 0.0
        self.t = t
        self._measure()
        return t, dt

    def _live_time(self) -> float:
        now = self._time()
        if self._start is None:
            self._start = now
            self._deadline = now
            return 0.0
        self._deadline += self.period
        if now < self._deadline:
            self.wait(self._deadline - now)
            now = self._time()
        lateness = now - self._deadline
        if lateness > 0.5 * self.period:
            self.late += 1
            self.dropped += int(lateness // self.period)
            self._deadline = now  # restart the schedule: never burst to catch up
        return now - self._start

    def wait(self, seconds: float) -> None:
        """Sleep until the frame's deadline; with a `wake` event, setting it ends the wait early
        and the schedule restarts from then (no short frame after it). Frames still start at
        least half a period apart, so a stream of wakes at most doubles the frame rate."""
        if self.wake is None:
            self._sleep_fn(seconds)
            return
        hold = seconds - 0.5 * self.period
        if hold > 0:
            self._sleep_fn(hold)
            seconds -= hold
        if self.wake.wait(seconds):
            self.wake.clear()
            self.restart_schedule()

    @property
    def next_deadline(self) -> float:
        """When the current frame's period ends (live clock time)."""
        return self._deadline

    def restart_schedule(self) -> None:
        """Live: count the next deadline from now (a frame woken early is on time, not early)."""
        self._deadline = self._time()

    def _measure(self) -> None:
        now = self._time()
        if self._last_wall is not None:
            self._wall_dts.append(now - self._last_wall)
        self._last_wall = now

    @property
    def fps_history(self) -> list[float]:
        """Instantaneous fps (1 / wall-clock dt) of the frames in the rolling window."""
        return [1.0 / d for d in self._wall_dts if d > 0]

    def stats(self) -> dict:
        """fps: frames per second over the window; median_fps and p5_fps of the instantaneous
        fps (p5: the slow frames); late, dropped, frames; target fps."""
        dts = np.array([d for d in self._wall_dts if d > 0], dtype=np.float64)
        out = {
            "target_fps": self.fps,
            "frames": self.frame + 1,
            "late": self.late,
            "dropped": self.dropped,
            "fps": 0.0,
            "median_fps": 0.0,
            "p5_fps": 0.0,
        }
        if dts.size:
            inst = 1.0 / dts
            out["fps"] = float(dts.size / dts.sum())
            out["median_fps"] = float(np.median(inst))
            out["p5_fps"] = float(np.percentile(inst, 5))
        return out
