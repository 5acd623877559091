"""Hot reload: notice that the show file or a shader changed, read the new version, and hand
over what may change live; an invalid edit keeps the last good version."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from installation.config import ShowConfig, load_show
from installation.show_text import read_show_text

log = logging.getLogger("installation.show")

RELOAD_MIN_SECONDS = 1.0  # /installation/show/reload more often than this is ignored
RELOAD_FADE_SECONDS = 1.0  # a reloaded show file fades its changes in

# Show-file keys that only take effect at the next start (the running value is kept).
RESTART_ONLY = {
    "show": ("width", "height", "fps", "seed", "shaders", "render_scale", "fit", "tiles"),
    "model": None,  # all of it
    "osc": None,
    "audio": ("enabled", "device", "samplerate", "blocksize", "bands"),
    "dream": ("net", "weights", "layer", "resolution", "octaves", "steps_per_frame"),
    "pigment": ("enabled",),  # the chain is built with or without the pigment flow
    "link": None,
    "output": None,
}


def file_stamp(path: Path | None) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except (OSError, AttributeError):
        return None
    return st.st_mtime_ns, st.st_size


def restart_only_changes(old: ShowConfig, new: ShowConfig) -> list[str]:
    changed = []
    for section, names in RESTART_ONLY.items():
        a, b = getattr(old, section).model_dump(), getattr(new, section).model_dump()
        for name in names or a:
            if a[name] != b[name]:
                changed.append(f"{section}.{name}")
    return changed


def keep_running_values(old: ShowConfig, new: ShowConfig, keys: list[str]) -> None:
    for key in keys:
        section, name = key.split(".")
        setattr(getattr(new, section), name, getattr(getattr(old, section), name))


class HotReload:
    """Reads the show file again (when it changed on disk, or when asked) and validates it.

    `check(cfg)` raises for a version that cannot run (e.g. a keyframe file or a mapping);
    `read()` returns the new config with the restart-only keys at their running values, or
    None (nothing new, or an invalid edit: logged once, with `problem` set)."""

    def __init__(self, show_path: Path | None, overrides: tuple[str, ...], stats):
        self.show_path = show_path
        self.overrides = overrides
        self.stats = stats
        self._stamp = file_stamp(show_path)
        self._pending = self._stamp  # a changed file is read once it stays unchanged for a poll
        self.last_error: str | None = None  # the newest invalid edit's message (None: the file is good)
        self.shader_error_shown = False
        self.last_read_at = -1e9
        self.problem: str | None = None  # the newest error, for the window title
        self.last_text: str | None = None  # the text of the newest version applied

    def changed(self) -> bool:
        stamp = file_stamp(self.show_path)
        if stamp is None or stamp == self._stamp:  # missing: an editor mid-save; wait
            return False
        if stamp != self._pending:  # changed since the last look: maybe still being written
            self._pending = stamp
            return False
        self._stamp = stamp
        return True

    def too_soon(self) -> bool:
        """Asked again within RELOAD_MIN_SECONDS (a flood must not cost frames)."""
        return time.monotonic() - self.last_read_at < RELOAD_MIN_SECONDS

    def read(self, running: ShowConfig, check, text: str | None = None) -> ShowConfig | None:
        """`text`: this version of the file (a replayed reload) instead of the file on disk."""
        if self.show_path is None:
            raise ValueError("this show was not started from a file; nothing to reload")
        self.last_read_at = time.monotonic()
        try:
            text = read_show_text(self.show_path) if text is None else text
            new = load_show(self.show_path, self.overrides, reload=True, text=text)
            check(new)
        except Exception as e:  # noqa: BLE001 - any bad edit: keep the last good version
            self.stats.reload_errors += 1
            message = str(e)
            if message != self.last_error:
                self.last_error = message
                log.error("show file not applied, the last good version stays:\n%s", message)
                self.problem = f"show file error: {message.splitlines()[-1].strip()}"
            return None
        kept = restart_only_changes(running, new)
        if kept:
            log.warning("show file: %s changed; that takes a restart (the running values stay)", ", ".join(kept))
            keep_running_values(running, new, kept)
        self.stats.reloads += 1
        self.last_text = text  # what a performance log keeps of this reload
        self.last_error = None
        self.problem = None
        log.info("show file reloaded: %s", self.show_path)
        return new


def apply_show_file(show, text: str | None = None) -> bool:
    """Read the show's file again (or take `text`, a replayed reload) and hand each running part
    its new section; an invalid version keeps the last good one (logged once, and outside
    gallery mode in the title)."""
    from installation.control.wiring import check_mappings
    from installation.latent_director import load_w_files

    w_files = []
    new = show.reloader.read(show.cfg, lambda cfg: (w_files.extend(load_w_files(cfg)), check_mappings(cfg, show.params)),
                             text)
    show_problem(show, show.reloader.problem)
    if new is None:
        return False
    show.tape.reloaded(show.reloader.last_text)
    old = show.cfg
    show.cfg = show.recording.cfg = show.controls.cfg = new
    show.cues.reload(new, RELOAD_FADE_SECONDS)
    scene = new.scenes.get(show.cues.scene_name) if show.cues.scene_name else None
    show.latent.reload(new, w_files, scene, RELOAD_FADE_SECONDS)
    show.controls.set_mappings(scene.mappings if scene is not None and scene.mappings is not None else new.mappings)
    show.controls.set_midi(new.midi)
    if old.dream.enabled != new.dream.enabled and new.dream.enabled != show.dream_on:
        show.guard("dream", show.handlers["toggle_dream"])
    return True


def upkeep(show) -> None:
    """Live, every reload_interval: shaders and the show file edited on disk take effect."""
    if not show.cfg.show.hot_reload:
        return
    reloader = show.reloader
    errors = show.guard("shader reload", show.chain.reload_if_changed) or []
    for message in errors:
        show.stats.reload_errors += 1  # the shader library logged it (file:line)
        reloader.shader_error_shown = True
        show_problem(show, f"shader error: {message.splitlines()[0]}")
    if not errors and reloader.shader_error_shown and not show.chain.library.failing:  # all fixed
        reloader.shader_error_shown = False
        last = reloader.last_error
        show_problem(show, None if last is None else f"show file error: {last.splitlines()[-1].strip()}")
    if show.reloader.show_path is not None and show.reloader.changed():
        show.guard("show reload", show.reload_show)


def show_problem(show, message: str | None) -> None:
    """Outside gallery mode, a problem is also shown in the window title (None clears it)."""
    set_title = getattr(show.window, "set_title", None)
    if not show.gallery and set_title is not None:
        title = show.cfg.show.name if message is None else f"{show.cfg.show.name} - {message[:160]}"
        show.guard("title", set_title, title)
