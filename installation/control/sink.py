"""The narrow door between controls and the show: set a live parameter, post an action,
publish and read features. Controls (OSC, audio, mappings; later MIDI, OSCQuery, Link) get a
ControlSink and never the show."""

from __future__ import annotations

import threading
from typing import Callable

from installation.params import Params, SetResult


class ControlSink:
    def __init__(self, params: Params, post: Callable[..., object], wake: Callable[[], None] | None = None):
        self._params = params
        self._post = post
        self._wake = wake  # e.g. end the frame loop's wait: the change shows one render later
        self._features: dict[str, float] = {}
        self._lock = threading.Lock()

    @property
    def specs(self):
        """The live table: key -> ParamSpec (range, default, smoothing)."""
        return self._params.specs

    def set(self, key: str, value, smoothing: bool = True) -> SetResult:
        result = self._params.set(key, value, smoothing)
        if self._wake is not None:
            self._wake()
        return result

    def set_offset(self, key: str, offset: float) -> None:
        """Additive modulation on top of the value set (add-mode mappings)."""
        self._params.set_offset(key, offset)

    def get_target(self, key: str) -> float | None:
        return self._params.get_target(key)

    def post(self, name: str, *args) -> bool:
        """Queue an action by name (installation.actions); never blocks."""
        return bool(self._post(name, *args))

    def publish_features(self, features: dict[str, float]) -> None:
        """This frame's input features (audio, OSC inputs), for whoever reads them."""
        with self._lock:
            self._features = dict(features)

    def features(self) -> dict[str, float]:
        with self._lock:
            return self._features
