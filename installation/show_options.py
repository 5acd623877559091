"""What a show is started with (ShowOptions, from the CLI) and what it reports (ShowStats)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ShowOptions:
    headless: bool = True
    offline: bool = False  # frame-exact render: synchronous content, exact clock
    fullscreen: bool = False
    monitor: int = 0
    record: Path | None = None
    osc_port: int | None = None  # overrides the show file's port (0: any free port)
    query_port: int | None = None  # overrides osc.query_port (OSCQuery HTTP; 0: any free port)
    midi_port: str | None = None  # a MIDI input port name: [[midi]] mappings and MIDI learn
    link: bool = False  # join Ableton Link (also the show file's link.enabled)
    ndi: str | None = None  # overrides output.ndi: send every displayed frame as this NDI source
    virtual_camera: bool = False  # also the show file's output.virtual_camera
    audio_file: Path | None = None
    gallery: bool = False  # also on when the show file's gallery.enabled is
    progress: bool = False  # a progress bar (offline renders)
    overrides: tuple[str, ...] = ()  # the --set overrides, applied again on every reload
    shader_dir: Path | None = None  # overrides show.shaders
    watchdog_seconds: float | None = None  # overrides gallery.watchdog_seconds
    reload_interval: float = 0.5  # live: how often the show file and shaders are checked
    log: Path | None = None  # live: write the performance here (performance.py), for render --replay
    replay: object | None = None  # a replay.Performance to render frame for frame (offline)


@dataclass
class ShowStats:
    frames: int = 0
    content_frames: int = 0
    seconds: float = 0.0
    display_fps: list[float] = field(default_factory=list)  # the clock's rolling window (bounded)
    frame_errors: int = 0
    recorded: int = 0
    record_dropped: int = 0
    record_path: Path | None = None
    record_error: str | None = None
    worker_restarts: int = 0
    reloads: int = 0
    reload_errors: int = 0
    actions_dropped: int = 0
    interrupted_by: int | None = None  # the signal that stopped the run (SIGINT / SIGTERM), if one did
