"""Perform live, re-render offline: `play --log FILE` writes what the live loop did that is not
fixed by the show file, frame by frame; `render SHOW --replay FILE` plays it back offline,
frame-exact, at any size (replay.py).

A live frame depends on more than the show file and its seed: the wall clock (t, dt), every
parameter written by OSC, MIDI, OSCQuery, keys, cues and mappings, the audio features, the
actions run (keys, OSC, cues), hot-reloaded show files, and when each content frame arrived
from the worker thread (and from which earlier frame's request it was made). The log keeps
exactly these; the replay (replay.py) runs the offline path on the logged clock, restores the parameter
state at each snapshot, publishes the logged features, runs the logged actions and reloads at
the same frames, and makes each content frame synchronously from the request of the frame it
came from, pushing it at the frame it arrived: the crossfade then follows from the same times.

The log is JSON lines: a header (format, version, the show file's text and path, the overrides,
seed, size, fps, installation version), then one line per frame with its time and only what
changed, flushed as it is written (a crash keeps what was written), and a closing line.
A frame line: k (index), t (seconds), and where something happened
  a   events run on the frame loop in order: [action, [args]]; a reload: ["reload_show", [text]];
      a shader program built or hot-reloaded: ["shader", [vertex, fragment, [defines], vertex text,
      fragment text]] (frame 0 holds every program's text as the performance started)
  pt, po  parameter targets and offsets that changed
  pc, pj  values set without easing (cue fades, mappings): to a number, or (pj) to their target
  f, f-  audio / OSC-input features that changed, and those that went away
  c   the frames whose content requests were made since the last one, in order; the last one shows now
With live audio input, the sound the show heard is written beside the log (FILE.wav, 16-bit
mono, from the first frame on) and the replay muxes it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import wave
from pathlib import Path

import numpy as np

from installation import __version__
from installation.clock import FrameClock

log = logging.getLogger(__name__)

FORMAT = "installation-performance"
VERSION = 1
# Actions that change nothing in the picture (or, for reload_show, whose effect is logged as
# the text it applied: a reload that came too soon or failed changed nothing).
NOT_REPLAYED = frozenset({"record_start", "record_stop", "record_toggle", "fullscreen", "screenshot", "quit",
                          "midi_learn", "reload_show"})
MAX_PENDING_REQUESTS = 4096  # live: requests remembered while the worker has not made them


class Tape:
    """Neither logging nor replaying: the live loop's worker hand-over, or offline one content
    frame per output frame. The performance log (below) and the replay (replay.py) change what they need."""

    replaying = False

    def __init__(self, offline: bool):
        self.offline = offline

    @property
    def live_timing(self) -> bool:
        """Content arrives when the worker has it, the recording follows the clock."""
        return not self.offline

    def make_clock(self, fps: float, wake) -> FrameClock:
        return FrameClock(fps, offline=self.offline, wake=wake)

    def attach(self, show) -> None:
        """Called once the show's parts exist."""

    def begin(self, t: float) -> list[tuple[str, tuple]]:
        """The next frame starts at t; the logged actions to run now (replaying), else none."""
        return []

    def action(self, name: str, args: tuple) -> None:
        """An action ran on the frame loop."""

    def reloaded(self, text: str) -> None:
        """A hot reload applied this show-file text."""

    def features(self, sink) -> None:
        """The frame's features are published (the controls have run)."""

    def content(self, req, worker, guard):
        """The content frame that shows from this frame on, or None (the previous one stays)."""
        if self.offline:
            return guard("content", worker.produce, req)
        worker.submit(req.w, req.params, req.dream, req.noise)
        return worker.take()

    def end(self) -> None:
        """The frame is shown (and recorded)."""

    def stop(self) -> None:
        """The show ends."""


def open_tape(opt, cfg, show_path: Path | None) -> Tape:
    """The show's tape: a replay (render --replay), a performance log (play --log), or neither."""
    if opt.replay is not None:  # a replay.Performance
        return opt.replay.tape()
    if opt.log is not None and not opt.offline:
        if show_path is None:
            raise ValueError("a performance log needs the show file the show was started from")
        return PerformanceLog(opt.log, cfg, show_path, opt.overrides)
    return Tape(opt.offline)


def _changed(new: dict, old: dict) -> dict:
    return {k: v for k, v in new.items() if k not in old or old[k] != v}


class PerformanceLog(Tape):
    """Live: writes the log as the show plays (play --log). Everything here runs on the frame
    loop (the parameter tap too: under Params' lock, on the loop's snapshot)."""

    def __init__(self, path: Path, cfg, show_path: Path, overrides: tuple[str, ...]):
        from installation.show_text import read_show_text

        super().__init__(offline=False)
        self.path = Path(path)
        self.show_path = Path(show_path)
        self.header = {
            "format": FORMAT, "version": VERSION, "installation": __version__,
            "show_path": str(self.show_path.resolve()), "show": read_show_text(self.show_path),  # as it is played
            "overrides": list(overrides), "seed": cfg.show.seed, "width": cfg.show.width, "height": cfg.show.height,
            "fps": cfg.show.fps, "audio_file": None,
        }
        self.file = None
        self.sound: SoundFile | None = None  # the live audio input, beside the log
        self.frames = 0
        self._line: dict = {}
        self._events: list = []  # events since the last frame line (a reload after a frame goes to the next)
        self._targets: dict[str, float] = {}
        self._offsets: dict[str, float] = {}
        self._features: dict[str, float] = {}
        self._sources: dict[int, int] = {}  # the worker's request serial -> the frame that asked
        self._worker = None

    def _write(self, obj: dict) -> None:
        if self.file is None:
            return
        try:
            self.file.write(json.dumps(obj, separators=(",", ":"), default=str) + "\n")
            self.file.flush()  # a crash keeps every frame written so far
        except (OSError, ValueError) as e:  # a full disk: the show goes on without its log
            log.error("performance log %s stopped at frame %d: %s", self.path, self.frames, e)
            self._close_file()

    def _close_file(self) -> None:
        file, self.file = self.file, None
        if file is not None:
            with contextlib.suppress(OSError):
                file.close()

    def attach(self, show) -> None:
        """Opens the file once everything else could be built (a show that fails to start leaves none)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = open(self.path, "w", encoding="utf-8")
        except OSError as e:
            raise OSError(f"--log {self.path}: cannot write it ({e.strerror or e})") from None
        live_audio = getattr(getattr(show.controls, "audio", None), "live", None)
        if live_audio is not None:
            wav = self.path.with_suffix(".wav") if self.path.suffix != ".wav" else self.path.with_suffix(".sound.wav")
            self.sound = SoundFile(wav, live_audio.samplerate, clock=lambda: show.clock.t)
            live_audio.tap = self.sound.write
            self.header["audio_file"] = self.sound.path.name  # beside the log
        self._write({**self.header, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        show.params.tap = self._params
        library = show.chain.library  # the shaders as they start, then each one built or edited
        for key, texts in library.sources().items():
            self._shader(key, texts)
        library.on_build = self._shader
        log.info("logging the performance to %s", self.path)

    def begin(self, t: float) -> list:
        self._line = {"k": self.frames, "t": t}  # the show's own count restarts with each run()
        return []

    def action(self, name: str, args: tuple) -> None:
        if name not in NOT_REPLAYED:
            self._events.append([name, list(args)])

    def reloaded(self, text: str) -> None:
        self._events.append(["reload_show", [text]])

    def _shader(self, key: tuple, texts: tuple[str, str]) -> None:
        vertex, fragment, defines = key
        self._events.append(["shader", [vertex, fragment, list(defines), *texts]])

    def _params(self, target: dict, offset: dict, current: dict, eased: dict | None) -> None:
        line = self._line
        for key, new, old in (("pt", target, self._targets), ("po", offset, self._offsets)):
            changed = _changed(new, old)
            if changed:
                old.update(changed)
                line[key] = changed
        jumped = dict(current) if eased is None else _changed(current, eased)  # set without easing
        to_target = [key for key, v in jumped.items() if target.get(key) == v]  # the usual case: named only
        if to_target:
            line["pj"] = to_target
        if len(to_target) < len(jumped):
            line["pc"] = {key: v for key, v in jumped.items() if target.get(key) != v}

    def features(self, sink) -> None:
        feats = sink.features()
        changed, gone = _changed(feats, self._features), [k for k in self._features if k not in feats]
        if changed:
            self._line["f"] = changed
        if gone:
            self._line["f-"] = gone
        if changed or gone:
            self._features = dict(feats)

    def content(self, req, worker, guard):
        if worker is not self._worker:  # a new worker (the watchdog's) counts its serials from 1
            self._worker, self._sources = worker, {}
        self._sources[worker.submit(req.w, req.params, req.dream, req.noise)] = self.frames
        made: list[int] = []
        frame = worker.take(made)
        if made:
            self._line["c"] = [self._sources[s] for s in made if s in self._sources]
            self._sources = {s: j for s, j in self._sources.items() if s > made[-1]}  # older ones are never made
        elif len(self._sources) > MAX_PENDING_REQUESTS:  # a stalled worker: forget the oldest
            self._sources = dict(list(self._sources.items())[MAX_PENDING_REQUESTS // 2:])
        return frame

    def end(self) -> None:
        line, self._line = self._line, {}
        if self._events:
            line["a"], self._events = self._events, []
        self.frames += 1
        self._write(line)

    def stop(self) -> None:
        if self.sound is not None:
            self.sound.close()
        if self.file is not None:
            self._write({"end": self.frames})
            self._close_file()
            log.info("performance log written: %s (%d frames)", self.path, self.frames)


class SoundFile:
    """The live input as the show heard it, frame by frame, as a WAV file whose header is brought
    up to date with every write (a crash keeps a playable file). The samples read on the first
    frame were heard before it and are left out, so the sound starts with the picture; sound the
    input lost (a stalled frame: it keeps 1 s at most) is filled with silence, so it stays with it."""

    LAG_SECONDS = 0.1  # behind the frame clock by more than this: fill with silence

    def __init__(self, path: Path, samplerate: int, clock):
        self.path = path
        self.samplerate = int(samplerate)
        self.clock = clock  # the frame's show time
        self.written = 0
        self._file = open(path, "wb")
        self._wav = wave.open(self._file, "wb")
        self._wav.setnchannels(1)
        self._wav.setsampwidth(2)
        self._wav.setframerate(int(samplerate))
        self._first = True

    def write(self, samples: np.ndarray) -> None:
        if self._first or self._wav is None:
            self._first = False
            return
        try:
            pcm = (np.clip(np.nan_to_num(samples), -1.0, 1.0) * 32767).astype("<i2")
            missing = round(self.clock() * self.samplerate) - self.written - pcm.size
            if missing > self.LAG_SECONDS * self.samplerate:
                pcm = np.concatenate([np.zeros(missing, "<i2"), pcm])
            self._wav.writeframes(pcm.tobytes())
            self.written += pcm.size
            self._file.flush()
        except Exception as e:  # noqa: BLE001 - a full disk, a WAV past 4 GB: the show goes on without its sound
            log.error("performance sound %s stopped: %s", self.path, e)
            self.close()

    def close(self) -> None:
        wav, self._wav = self._wav, None
        if wav is not None:
            with contextlib.suppress(OSError):
                wav.close()
                self._file.close()
