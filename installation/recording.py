"""When and where a show records: the file name policy, start / stop, and a failed recording
dropped while the show goes on (the writer itself is record.VideoRecorder)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Callable

import numpy as np

from installation.config import ShowConfig
from installation.record import take_path

log = logging.getLogger("installation.show")

RECORDING_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,128}\.mp4")


def recording_path(cfg: ShowConfig, name: str | None) -> Path:
    """Where R / OSC record/start write: the show file's record.path (relative to the show),
    else recording-<time>.mp4 in the working directory. A name from OSC is a bare file
    name ending in .mp4, put in that same folder: a sender cannot choose where we write."""
    default = cfg.resolve(cfg.record.path) if cfg.record.path else Path.cwd() / "recording.mp4"
    if name is not None:
        if not RECORDING_NAME.fullmatch(str(name)) or str(name).startswith("."):
            raise ValueError(f"record/start {name!r}: expected a file name like 'take1.mp4' (no folders)")
        path = default.parent / str(name)
    else:
        path = default
    return take_path(path, stamp=not cfg.record.path and name is None)  # never a name in use


class Recording:
    """At most one VideoRecorder at a time; what it wrote is added to the show's stats."""

    def __init__(self, cfg: ShowConfig, stats, offline: bool = False, audio_file: Path | None = None,
                 clock: Callable[[], float] | None = None, paced: bool | None = None):
        self.cfg = cfg
        self.stats = stats
        self.offline = offline  # offline: the writer blocks instead of dropping, and muxes the audio file
        self.audio_file = audio_file
        # Paced (live, and a replay of a live performance): video frame n is the newest frame shown
        # by n / fps on `clock`, the show's frame time; so a replay paces its take as the live one.
        self.paced = not offline if paced is None else paced
        self.clock = clock
        self.recorder = None

    @property
    def active(self) -> bool:
        return self.recorder is not None

    def start(self, path: Path | None = None, name: str | None = None) -> None:
        """Record to `path`, or to the show's policy for `name` (see recording_path)."""
        from installation.record import VideoRecorder

        if self.recorder is not None:
            return
        path = recording_path(self.cfg, name) if path is None else Path(path)
        cfg = self.cfg
        self.recorder = VideoRecorder(
            path,
            cfg.show.fps,
            (cfg.show.width, cfg.show.height),
            crf=cfg.record.crf,
            preset=cfg.record.preset,
            queue_size=cfg.record.queue,
            block=self.offline,
            audio_path=self.audio_file if self.offline else None,
            channels=4,  # the frames come from ShaderChain.read_rgba
            wall_clock=self.paced,  # live: the video follows the clock, whatever wakes the loop
            **({} if self.clock is None else {"clock": self.clock}),
        )
        log.info("recording to %s", path)

    def write(self, pixels: np.ndarray) -> None:
        # read_rgba returns a fresh buffer: the writer keeps it as it is and packs it on its own thread.
        self.recorder.write(pixels, False)

    @property
    def failed(self) -> bool:
        return self.recorder is not None and self.recorder.error is not None

    def stop(self) -> Path | None:
        rec, self.recorder = self.recorder, None
        if rec is None:
            return None
        final = rec.close()
        self.stats.recorded += rec.frames_written
        self.stats.record_dropped += rec.frames_dropped
        if rec.error is not None:
            self.stats.record_error = rec.error
            log.error("recording %s failed: %s (%d frames written)", rec.path, rec.error, rec.frames_written)
            return None
        self.stats.record_path = final
        log.info("recording finalised: %s (%d frames, %d dropped)", final, rec.frames_written, rec.frames_dropped)
        return final

    def drop_failed(self) -> None:
        """A write error (disk full, encoder gone): drop the recorder, log; the show goes on."""
        path = self.recorder.path
        self.stop()
        log.error("recording %s stopped; the show goes on without it", path)
