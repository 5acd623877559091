"""Scenes and cues: named looks and a cue list, crossfaded on the frame loop.

A scene's look is the show's base values (the live parameters of the show file) with the
scene's own values on top, so going to a cue gives the same picture whatever came before.
Moving to a scene fades every parameter whose target differs from the look, along a
smoothstep, over the fade time; the fade writes `Params` targets once per frame (without
the parameter's own easing: the fade is the easing). A parameter that is not part of the
fade keeps whatever OSC or a mapping set last.

Cues step through the list (`next_cue`, `previous_cue`, `go_to_cue`); a cue with `hold`
moves on by itself `hold` seconds after its fade ends, and the last cue's hold returns to
the first (a gallery loop). Choosing a scene directly (`go_to_scene`) cancels a pending hold.

Seeds and mappings are not parameters: `on_scene(scene, fade)` tells the show a scene was
entered so it can crossfade keyframes and swap mappings. Everything here runs on the frame
loop: control threads post actions, they never call this.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

from installation.config import Scene, ShowConfig
from installation.latent import smoothstep
from installation.live import live_values
from installation.params import Params

log = logging.getLogger(__name__)


@dataclass
class _Fade:
    start: dict[str, float]
    end: dict[str, float]
    elapsed: float
    duration: float

    def value(self, key: str) -> float:
        u = 1.0 if self.duration <= 0 else smoothstep(self.elapsed / self.duration)
        a, b = self.start[key], self.end[key]
        return a + (b - a) * u

    @property
    def done(self) -> bool:
        return self.elapsed >= self.duration


class CueDirector:
    """Owns the current scene, the cue position and the parameter fade."""

    def __init__(self, cfg: ShowConfig, params: Params, on_scene: Callable[[Scene | None, float], None] | None = None):
        self.params = params
        self.on_scene = on_scene
        self.cfg = cfg
        self.base = live_values(cfg)
        self.scene_name: str | None = None
        self.cue_index: int | None = None
        self._fade: _Fade | None = None
        self._hold_left: float | None = None  # seconds until auto-advance, counted after the fade
        # A scene (and cue) that a reload dropped, brought back when the file has it again (an edit
        # undone, a half-saved file restored); forgotten as soon as anyone chooses a scene.
        self._lost: tuple[str, int | None] | None = None

    # -- looks -------------------------------------------------------------------------------
    def look(self, name: str | None) -> dict[str, float]:
        values = dict(self.base)
        if name is not None and name in self.cfg.scenes:
            values.update(self.cfg.scenes[name].values())
        return values

    def _fade_to(self, target: dict[str, float], seconds: float) -> None:
        start, end = {}, {}
        for key, b in target.items():
            a = self.params.get_target(key)
            if a is None or a == b:
                continue
            start[key], end[key] = a, b
        self._fade = _Fade(start, end, 0.0, max(0.0, float(seconds))) if end else None
        if self._fade is not None and self._fade.duration == 0:
            self._apply_fade()  # a cut shows on this very frame

    # -- moving ------------------------------------------------------------------------------
    def scene_names(self) -> list[str]:
        return list(self.cfg.scenes)

    def resolve_scene(self, name_or_index) -> str:
        """A scene by name, or by its position in the show file (0-based); ValueError otherwise."""
        names = self.scene_names()
        if isinstance(name_or_index, str) and name_or_index in self.cfg.scenes:
            return name_or_index
        if isinstance(name_or_index, int) and not isinstance(name_or_index, bool) and 0 <= name_or_index < len(names):
            return names[name_or_index]
        known = ", ".join(names) or "none defined"
        raise ValueError(f"scene {name_or_index!r}: no such scene (scenes: {known})")

    def go_to_scene(self, name_or_index, fade: float | None = None, *, hold: float | None = None) -> str:
        name = self.resolve_scene(name_or_index)
        seconds = self.cfg.show.scene_fade if fade is None else float(fade)
        self.scene_name = name
        self._lost = None
        self._hold_left = hold
        self._fade_to(self.look(name), seconds)
        log.info("scene %s (fade %.1f s)", name, seconds)
        if self.on_scene is not None:
            self.on_scene(self.cfg.scenes[name], seconds)
        return name

    def go_to_cue(self, index: int) -> None:
        cues = self.cfg.cues
        if not cues:
            raise ValueError("this show has no cues ([[cues]] in the show file)")
        if not 0 <= index < len(cues):
            raise ValueError(f"cue {index}: the show has {len(cues)} cues (0..{len(cues) - 1})")
        cue = cues[index]
        self.cue_index = index
        log.info("cue %d", index)
        self.go_to_scene(cue.scene, cue.fade, hold=cue.hold)

    def next_cue(self) -> None:
        """The next cue; at the last one, stays there (auto-advance wraps, manual does not)."""
        if not self.cfg.cues:
            raise ValueError("this show has no cues ([[cues]] in the show file)")
        index = 0 if self.cue_index is None else min(self.cue_index + 1, len(self.cfg.cues) - 1)
        self.go_to_cue(index)

    def previous_cue(self) -> None:
        if not self.cfg.cues:
            raise ValueError("this show has no cues ([[cues]] in the show file)")
        index = 0 if self.cue_index is None else max(self.cue_index - 1, 0)
        self.go_to_cue(index)

    def start(self) -> None:
        """Enter the show's start cue, if it has cues and one is set."""
        if self.cfg.cues and self.cfg.show.start_cue is not None:
            self.go_to_cue(self.cfg.show.start_cue)

    # -- per frame ---------------------------------------------------------------------------
    def _apply_fade(self) -> None:
        fade = self._fade
        for key in fade.end:
            self.params.set(key, fade.value(key), smoothing=False)
        if fade.done:
            self._fade = None

    def update(self, dt: float) -> None:
        """Advance the fade and the hold by dt seconds (call once per frame, before the snapshot)."""
        dt = max(0.0, float(dt))
        if self._fade is not None:
            self._fade.elapsed += dt
            self._apply_fade()
            return
        if self._hold_left is not None:
            self._hold_left -= dt
            if self._hold_left <= 0:
                self._hold_left = None
                index = 0 if self.cue_index is None else (self.cue_index + 1) % len(self.cfg.cues)
                self.go_to_cue(index)

    @property
    def fading(self) -> bool:
        return self._fade is not None

    # -- reload ------------------------------------------------------------------------------
    def reload(self, cfg: ShowConfig, fade: float = 0.5) -> None:
        """A new version of the show file: fade the parameters whose look changed (others keep
        what OSC or mappings set); a vanished scene or cue falls back to the base look."""
        old_look = self.look(self.scene_name)
        self.cfg = cfg
        self.base = live_values(cfg)
        if self.scene_name is not None and self.scene_name not in cfg.scenes:
            log.warning("scene %s is gone from the show file; back to the base values", self.scene_name)
            self._lost = (self.scene_name, self.cue_index)
            self.scene_name = None
            self._hold_left = None
        elif self.scene_name is None and self._lost is not None and self._lost[0] in cfg.scenes:
            self.scene_name, self.cue_index = self._lost
            self._lost = None
            log.info("scene %s is back in the show file", self.scene_name)
        if self.cue_index is not None and self.cue_index >= len(cfg.cues):
            self.cue_index = None
            self._hold_left = None
        new_look = self.look(self.scene_name)
        changed = {k: v for k, v in new_look.items() if old_look.get(k) != v}
        if self._fade is not None:  # a fade under way goes on, toward the new look
            fade = max(fade, self._fade.duration - self._fade.elapsed)
            changed.update({k: new_look[k] for k in self._fade.end})
        if changed:
            self._fade_to(changed, fade)
