"""`render SHOW --replay FILE`: a performance log (performance.py) read back, checked, and played
offline, frame-exact: the logged clock, the parameter state restored at each snapshot, the logged
features, actions and reloads at their frames, and each content frame made synchronously from
the request of the frame it came from, pushed at the frame it arrived (the crossfade follows)."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from installation import __version__
from installation.clock import FrameClock
from installation.performance import FORMAT, VERSION, Tape

log = logging.getLogger(__name__)

MAX_HEADER_CHARS = 8 << 20  # a show file is at most 1 MB; JSON escaping may grow it


class PerformanceError(ValueError):
    """A log that cannot be replayed; the message is one line naming the file."""


class Performance:
    """A performance log read back: its header and its frame lines."""

    def __init__(self, path: Path, header: dict, frames: list[dict], complete: bool):
        self.path = path
        self.header = header
        self.frames = frames
        self.complete = complete  # False: the show stopped without its closing line (a crash)

    def tape(self) -> "Replay":
        return Replay(self)

    @property
    def show_text(self) -> str:
        return self.header["show"]

    def overrides(self, extra: tuple[str, ...] = ()) -> tuple[str, ...]:
        """The performance's overrides, then the replay's own (e.g. a new size) on top."""
        return (*self.header["overrides"], *extra)

    def config(self, show_file: Path, extra: tuple[str, ...] = ()):
        """The show as it was played (the logged text; paths relative to SHOW's folder), with the
        replay's overrides on top. ShowConfigError / PerformanceError: one line."""
        from installation.config import load_show

        cfg = load_show(show_file, self.overrides(extra), text=self.show_text)
        h = self.header
        for key, value, what in (("fps", cfg.show.fps, "show.fps"), ("seed", cfg.show.seed, "show.seed")):
            if value != h[key]:
                raise PerformanceError(f"{self.path}: the performance was played with {what} = {h[key]}; "
                                       f"a replay keeps it (got {value})")
        cfg.audio.enabled = False  # the logged features drive a replay; no live input is opened
        return cfg

    @property
    def audio_file(self) -> Path | None:
        """What the show heard (FILE.wav beside the log), to mux into the replay; None without."""
        audio = self.header.get("audio_file")
        if not isinstance(audio, str):
            return None
        path = self.path.parent / audio  # relative: beside the log, wherever the two were moved
        if not path.is_file():
            log.warning("%s: the sound of the performance (%s) is missing; the replay is silent", self.path, path)
            return None
        return path


_HEADER_TYPES = {"show": str, "show_path": str, "overrides": list, "seed": int, "width": int, "height": int,
                 "fps": (int, float)}
_LINE_TYPES = {"a": list, "pt": dict, "po": dict, "pc": dict, "pj": list, "f": dict, "f-": list, "c": list}


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_line(obj, k: int) -> str | None:
    """What is wrong with frame line k, or None."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    if obj.get("k") != k:
        return f"frame {obj.get('k')!r} where frame {k} was expected"
    if not _number(obj.get("t")) or not math.isfinite(obj["t"]):
        return "no time 't'"
    for key, kind in _LINE_TYPES.items():
        if key in obj and not isinstance(obj[key], kind):
            return f"'{key}' is not a {kind.__name__}"
    if any(not (isinstance(e, list) and len(e) == 2 and isinstance(e[0], str) and isinstance(e[1], list))
           for e in obj.get("a", ())):
        return "'a' holds something other than [action, [arguments]]"
    for key in ("pt", "po", "pc", "f"):
        if any(not _number(v) for v in obj.get(key, {}).values()):
            return f"'{key}' holds something other than numbers"
    for key in ("pj", "f-"):
        if any(not isinstance(name, str) for name in obj.get(key, ())):
            return f"'{key}' holds something other than names"
    if any(not isinstance(j, int) or isinstance(j, bool) or not 0 <= j <= k for j in obj.get("c", ())):
        return "'c' names a frame that is not an earlier one"
    return None


def read_performance(path) -> Performance:
    """Read and check a log (play --log). PerformanceError, one line, for a file that is not one,
    a log from a newer installation, a damaged line or one without frames. A log cut short by a
    crash (no closing line, maybe a half-written last line) is read up to its last whole frame."""
    path = Path(path)
    foreign = f"{path}: not a performance log (`installation play --log FILE` writes one)"
    try:
        f = open(path, encoding="utf-8")
    except OSError as e:
        raise PerformanceError(f"{path}: cannot read the performance log ({e.strerror or e})") from None
    with f:
        try:
            first = f.readline(MAX_HEADER_CHARS)
            header = json.loads(first)
        except (UnicodeDecodeError, ValueError):
            raise PerformanceError(foreign) from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise PerformanceError(foreign)
        version = header.get("version")
        if not isinstance(version, int) or version > VERSION:
            raise PerformanceError(f"{path}: performance log format {version!r}, written by a newer installation "
                                   f"({header.get('installation')}); this one ({__version__}) reads format {VERSION}")
        for key, kind in _HEADER_TYPES.items():
            if not isinstance(header.get(key), kind) or isinstance(header.get(key), bool):
                raise PerformanceError(f"{path}: the header's '{key}' is missing or damaged")
        if not all(isinstance(o, str) for o in header["overrides"]):
            raise PerformanceError(f"{path}: the header's 'overrides' is damaged")
        frames: list[dict] = []
        complete = False
        try:
            lines = list(f)
        except UnicodeDecodeError:
            raise PerformanceError(f"{path}: damaged (not UTF-8 text after the header)") from None
        for n, line in enumerate(lines, start=2):
            last = n == len(lines) + 1
            try:
                obj = json.loads(line)
            except ValueError:
                if last and not line.endswith("\n"):  # cut off mid-line by a crash: keep what came before
                    break
                raise PerformanceError(f"{path}:{n}: damaged line (not JSON)") from None
            if isinstance(obj, dict) and "end" in obj:
                complete = True
                break
            problem = _check_line(obj, len(frames))
            if problem is not None:
                raise PerformanceError(f"{path}:{n}: damaged line ({problem})")
            frames.append(obj)
    if not frames:
        raise PerformanceError(f"{path}: holds no frames (the show stopped before its first frame)")
    if not complete:
        log.warning("%s ends without its closing line (the show stopped abruptly?): replaying the %d frames it holds",
                    path, len(frames))
    return Performance(path, header, frames, complete)


class ReplayClock(FrameClock):
    """The logged frame times, one per tick (dt is worked out as the live clock did)."""

    def __init__(self, fps: float, times: list[float]):
        super().__init__(fps, offline=True)
        self.times = times

    def tick(self) -> tuple[float, float]:
        self.frame += 1
        t = self.times[self.frame]
        dt = t - self.t if self.frame > 0 else 0.0
        self.t = t
        self._measure()
        return t, dt


class Replay(Tape):
    """Offline, frame-exact: what the log says happened, at the frame it happened."""

    replaying = True

    def __init__(self, perf: Performance):
        super().__init__(offline=True)
        self.perf = perf
        self._line: dict = {}
        self._targets: dict[str, float] = {}
        self._offsets: dict[str, float] = {}
        self._features: dict[str, float] = {}
        self._needed = {j for line in perf.frames for j in line.get("c", ())}  # frames whose request is made
        self._requests: dict[int, object] = {}
        self.k = -1  # the frame being replayed

    @property
    def live_timing(self) -> bool:
        return True

    def make_clock(self, fps: float, wake) -> FrameClock:
        return ReplayClock(fps, [line["t"] for line in self.perf.frames])

    def attach(self, show) -> None:
        from installation.reload import apply_show_file

        show.params.tap = self._params
        show.handlers["reload_show"] = lambda text: apply_show_file(show, text)  # the logged version
        show.handlers["shader"] = lambda vertex, fragment, defines, *texts: show.chain.library.replace(
            (vertex, fragment, tuple(defines)), tuple(texts))

    def begin(self, t: float) -> list[tuple[str, tuple]]:
        self.k += 1
        line = self._line = self.perf.frames[self.k]
        if "f" in line or "f-" in line:
            self._features = {key: v for key, v in self._features.items() if key not in line.get("f-", ())}
            self._features.update(line.get("f", {}))
        return [(name, tuple(args)) for name, args in line.get("a", ())]

    def _params(self, target: dict, offset: dict, current: dict, eased: dict | None) -> None:
        line = self._line
        self._targets.update(line.get("pt", {}))
        self._offsets.update(line.get("po", {}))
        target.update(self._targets)  # whatever this run's own cues and mappings wrote
        offset.update(self._offsets)
        jumped = {**{key: target[key] for key in line.get("pj", ()) if key in target}, **line.get("pc", {})}
        for key in current:
            current[key] = jumped.get(key, current[key] if eased is None else eased.get(key, current[key]))

    def features(self, sink) -> None:
        sink.publish_features(self._features)

    def content(self, req, worker, guard):
        if self.k in self._needed:
            self._requests[self.k] = req
        frame = None
        for j in self._line.get("c", ()):  # in the live order: a live dreamer carries state from one to the next
            source = self._requests.pop(j, None)
            if source is not None:
                frame = guard("content", worker.produce, source)
        return frame
