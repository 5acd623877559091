"""Live parameter state: control threads write targets, the frame loop snapshots.

Writers (OSC, audio mappings, keys, cues) call `set()` from any thread; the value is
range-checked and stored as a target. Once per frame, the loop calls `snapshot(dt)`,
which eases every value toward its target with the parameter's time constant and
returns a typed, frozen `config.Frame` (`frame.warp.swirl`). Nothing here touches GL or torch.
"""

from __future__ import annotations

import math
import threading
from enum import Enum

from installation.config import ShowConfig
from installation.live import Frame, live_specs, live_values


class SetResult(Enum):
    OK = "ok"
    CLAMPED = "clamped"
    REJECTED = "rejected"  # unknown key, wrong type, NaN


class Params:
    """Thread-safe live values with per-parameter smoothing."""

    def __init__(self, cfg: ShowConfig | None = None):
        self.specs = {s.key: s for s in live_specs()}
        self._lock = threading.Lock()
        self._target: dict[str, float] = {}
        self._offset: dict[str, float] = {}  # additive modulation (audio "add" mappings)
        self._current: dict[str, float] = {}
        self.counters = {"clamped": 0, "rejected": 0}
        self._eased: dict[str, float] | None = None  # the last snapshot's values
        # A performance log (performance.py) sees, and a replay restores, the state each snapshot
        # eases from: tap(targets, offsets, current, last eased values), under the lock.
        self.tap = None
        self.load(cfg)

    def load(self, cfg: ShowConfig | None, jump: bool = True) -> None:
        """Take base values from a show config; jump=True skips smoothing."""
        values = live_values(cfg) if cfg is not None else {key: spec.default for key, spec in self.specs.items()}
        with self._lock:
            for key, value in values.items():
                self._target[key] = value
                if jump or key not in self._current:
                    self._current[key] = value

    def set(self, key: str, value, smoothing: bool = True) -> SetResult:
        spec = self.specs.get(key)
        if spec is None or isinstance(value, bool):
            return self._reject()
        try:
            v = float(value)
        except (TypeError, ValueError):
            return self._reject()
        if not math.isfinite(v):
            return self._reject()
        result = SetResult.OK
        if v < spec.lo or v > spec.hi:
            v = min(max(v, spec.lo), spec.hi)
            result = SetResult.CLAMPED
        with self._lock:
            self._target[key] = v
            if not smoothing:
                self._current[key] = v
            if result is SetResult.CLAMPED:
                self.counters["clamped"] += 1
        return result

    def set_offset(self, key: str, offset: float) -> None:
        """Additive modulation on top of the target (the sum is clamped to range)."""
        if key in self.specs and math.isfinite(offset):
            with self._lock:
                self._offset[key] = float(offset)

    def _reject(self) -> SetResult:
        with self._lock:
            self.counters["rejected"] += 1
        return SetResult.REJECTED

    def get_target(self, key: str) -> float | None:
        """The value most recently set (before smoothing and offsets)."""
        with self._lock:
            return self._target.get(key)

    def snapshot(self, dt: float) -> Frame:
        """Ease every value toward its target by dt seconds; the frame's typed, frozen values
        (`frame.warp.swirl`). The one place live values are clamped to their range."""
        dt = max(0.0, float(dt))
        out = {}
        with self._lock:
            if self.tap is not None:
                self.tap(self._target, self._offset, self._current, self._eased)
            for key, spec in self.specs.items():
                goal = self._target[key] + self._offset.get(key, 0.0)
                goal = min(max(goal, spec.lo), spec.hi)
                cur = self._current[key]
                if spec.smoothing > 0:
                    cur += (goal - cur) * (1.0 - math.exp(-dt / spec.smoothing))
                else:
                    cur = goal
                if not math.isfinite(cur):  # whatever went wrong, the frame gets a usable value
                    cur = spec.default
                self._current[key] = cur
                out[key] = cur
            self._eased = out
        return Frame.from_values(out)
