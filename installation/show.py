"""The show: owns model, trajectory, content worker, shader chain, window, recorder, controls
and cues, and runs the frame loop.

Live (`play`): the content worker runs on its own thread; the display never waits for it
and crossfades between the last two content frames. Offline (`render`): every output frame
gets its own content frame, at exact times k / fps, so renders repeat bit for bit.

Nothing the outside does may stop a live show: each step of a frame runs guarded (an error
is logged once per kind and the last good frame stays up), actions from control threads go
through a bounded queue, a content worker that dies or hangs is replaced (watchdog), a
recording that fails is dropped while the show goes on, and an edit of the show file or a
shader that does not work keeps the last good version.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import re
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from installation.config import Scene, ShowConfig
from installation.params import Params
from installation.record import take_path

log = logging.getLogger(__name__)

ACTION_QUEUE_SIZE = 256  # actions waiting for the frame loop; more are dropped and counted
ACTIONS_PER_FRAME = 16  # a flood of actions costs a frame at most this many
LOG_EVERY_SECONDS = 10.0  # one step logs a new kind of error at most this often (no log floods)
RELOAD_MIN_SECONDS = 1.0  # /installation/show/reload more often than this is ignored
# Of these only the last of a frame runs: a flood of jumps, scene or cue changes then costs one a frame
# (within a frame's 30-50 ms nobody can tell two cue presses from one).
LAST_ONLY_ACTIONS = {
    "jump_to_seed", "scene", "cue_next", "cue_previous", "record_start", "record_stop", "reload_show", "toggle_dream",
}
THROTTLED_ACTIONS = {"jump_to_seed", "scene", "cue_next", "cue_previous"}
THROTTLE_SECONDS = 0.2
EXTRA_KEYFRAMES = 64  # seeds jumped to (OSC) that may pile up before the keyframes are reset
GALLERY_ESC_SECONDS = 2.0  # gallery mode: the second Esc must come within this time
RELOAD_FADE_SECONDS = 1.0  # a reloaded show file fades its changes in
LIVE_SWITCH_INTERVAL = 0.001  # seconds; see Show.run
# Live: an OSC message ends the wait for the next frame, so the change is on screen one render
# later instead of up to a whole frame period later (issue 8: OSC-to-screen p95 <= 50 ms).
# INSTALLATION_OSC_WAKE=0 turns it off (for A/B measurements).
OSC_WAKE = os.environ.get("INSTALLATION_OSC_WAKE", "1") != "0"
# The frames read for recording are fresh buffers: the recorder may keep them as they are and
# pack them on its own thread (INSTALLATION_RECORD_COPY=1: copy on the frame loop, for A/B).
RECORD_COPY = os.environ.get("INSTALLATION_RECORD_COPY", "0") == "1"
RECORDING_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,128}\.mp4")

# Show-file keys that only take effect at the next start (the running value is kept).
RESTART_ONLY = {
    "show": ("width", "height", "fps", "seed", "shaders", "render_scale", "fit", "tiles"),
    "model": None,  # all of it
    "osc": None,
    "audio": ("enabled", "device", "samplerate", "blocksize", "bands"),
    "dream": ("net", "weights", "layer", "resolution", "octaves", "steps_per_frame"),
}


@dataclass
class ShowOptions:
    headless: bool = True
    offline: bool = False  # frame-exact render: synchronous content, exact clock
    fullscreen: bool = False
    monitor: int = 0
    record: Path | None = None
    osc_port: int | None = None  # overrides the show file's port (0: any free port)
    audio_file: Path | None = None
    gallery: bool = False  # also on when the show file's gallery.enabled is
    progress: bool = False  # a progress bar (offline renders)
    overrides: tuple[str, ...] = ()  # the --set overrides, applied again on every reload
    shader_dir: Path | None = None  # overrides show.shaders
    watchdog_seconds: float | None = None  # overrides gallery.watchdog_seconds
    reload_interval: float = 0.5  # live: how often the show file and shaders are checked


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


class OnceLog:
    """Which errors were logged already, so each kind is logged once; bounded (LRU), so a show
    that meets a new message every frame for days keeps constant memory."""

    def __init__(self, limit: int = 256):
        self.limit = limit
        self._seen: OrderedDict[str, None] = OrderedDict()

    def first(self, key: str) -> bool:
        if key in self._seen:
            self._seen.move_to_end(key)
            return False
        self._seen[key] = None
        if len(self._seen) > self.limit:
            self._seen.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._seen)


def _error_key(what: str, e: BaseException) -> str:
    # Numbers in messages (frame counts, sizes, addresses) would make every error new.
    return f"{what}: {type(e).__name__}: {re.sub(r'[0-9]+', '#', str(e))[:200]}"


def _file_stamp(path: Path | None) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except (OSError, AttributeError):
        return None
    return st.st_mtime_ns, st.st_size


def _restart_only_changes(old: ShowConfig, new: ShowConfig) -> list[str]:
    changed = []
    for section, names in RESTART_ONLY.items():
        a, b = getattr(old, section).model_dump(), getattr(new, section).model_dump()
        for name in names or a:
            if a[name] != b[name]:
                changed.append(f"{section}.{name}")
    return changed


def _keep_running_values(old: ShowConfig, new: ShowConfig, keys: list[str]) -> None:
    for key in keys:
        section, name = key.split(".")
        setattr(getattr(new, section), name, getattr(getattr(old, section), name))


class Show:
    def __init__(self, cfg: ShowConfig, options: ShowOptions | None = None, show_path: Path | None = None):
        from installation.clock import FrameClock
        from installation.device import pick_device
        from installation.render.chain import ShaderChain
        from installation.render.window import open_window
        from installation.scenes import CueDirector

        self.cfg = cfg
        self.opt = options or ShowOptions()
        self.show_path = Path(show_path) if show_path is not None else None
        self.params = Params(cfg)
        self.actions: queue.Queue[tuple[str, tuple]] = queue.Queue(maxsize=ACTION_QUEUE_SIZE)
        self.stats = ShowStats()
        self._errors = OnceLog()
        self._stop_requested = False
        self._started = False
        self._last_escape = -1e9
        self._wake = threading.Event()  # set by OSC input: start the next frame now
        self.dream_on = cfg.dream.enabled
        self.params_now: dict[str, float] = {}  # the last frame's parameter snapshot
        self.recorder = None
        self.controls: list = []
        self.window = None
        self.chain = None
        self.worker = None
        # Keyframes changed: w crossfades from the last shown w (held still, so a fade costs no
        # extra mapping) to the new path over [elapsed, duration] seconds.
        self._latent_from: torch.Tensor | None = None  # [1, num_ws, w_dim]
        self._latent_fade = [0.0, 0.0]
        self._last_w: torch.Tensor | None = None  # [1, num_ws, w_dim] the newest w asked for
        self._show_stamp = _file_stamp(self.show_path)
        self._show_pending = self._show_stamp  # a changed file is read once it stays unchanged for a poll
        self._shader_error_shown = False
        self._last_reload_error: str | None = None
        self._last_logged: dict[str, float] = {}  # step -> when it last logged an error
        self._last_reload_at = -1e9
        self._deferred: dict[str, tuple] = {}  # throttled action -> its newest arguments
        self._throttled_at: dict[str, float] = {}  # throttled action -> show time it last ran

        # Everything that can fail on bad input fails here, before the first frame.
        self.device = pick_device(cfg.model.device)
        torch.manual_seed(cfg.show.seed)
        self.G = self._load_generator(cfg)
        self._w_files = self._load_w_files(cfg)
        self._keyframes_key = None
        self.trajectory = None
        self._set_keyframes(None, 0.0)
        self.dreamer = self._make_dreamer() if cfg.dream.enabled else None
        self.worker = self._new_worker()
        try:
            w, h = cfg.show.width, cfg.show.height
            self.window = open_window(
                self.opt.headless, w, h, fullscreen=self.opt.fullscreen, monitor=self.opt.monitor, title=cfg.show.name,
                **({} if self.opt.headless else {"hide_cursor": self.gallery}),
            )
            self.chain = ShaderChain(
                self.window.ctx, w, h, shader_dir=self._shader_dir(cfg), render_scale=cfg.show.render_scale,
                fit=cfg.show.fit, tiles=cfg.show.tiles,
            )
            self.clock = FrameClock(cfg.show.fps, offline=self.opt.offline, sleep_fn=self._wait_for_frame)
            self.director = CueDirector(cfg, self.params, on_scene=self._enter_scene)
            self._mappings = list(cfg.mappings)
            self._start_controls()  # before the recording: a bad mapping or audio file leaves no empty file behind
            if self.opt.record is not None:
                self.start_recording(self.opt.record)
            elif cfg.record.path and not self.opt.offline:
                self.start_recording(self._recording_path(None))
            self._wake_on_osc()
        except BaseException:
            self.close()  # what was opened is released, a started recording removed
            raise

    # -- construction helpers -----------------------------------------------------------
    @property
    def gallery(self) -> bool:
        return self.opt.gallery or self.cfg.gallery.enabled

    def _load_generator(self, cfg: ShowConfig):
        from installation.models.checkpoint import load_generator

        ckpt = cfg.model.checkpoint
        spec = ckpt if ckpt.startswith("random:") else str(cfg.resolve(ckpt))
        self._generator_spec = spec  # a worker process rebuilds the generator from it
        return load_generator(spec, self.device)

    @staticmethod
    def _load_w_files(cfg: ShowConfig) -> list[np.ndarray]:
        from installation.latent import LatentTrajectory

        return [LatentTrajectory.load_w_file(cfg.resolve(p)) for p in cfg.latent.w_files]

    def _shader_dir(self, cfg: ShowConfig) -> Path:
        from installation.render.shaders import DEFAULT_SHADER_DIR

        if self.opt.shader_dir is not None:
            return Path(self.opt.shader_dir)
        return cfg.resolve(cfg.show.shaders) if cfg.show.shaders else DEFAULT_SHADER_DIR

    def _dreamer_args(self) -> dict:
        """make_live_dreamer's arguments (plain data: a worker process builds its own from them)."""
        from installation.dreamers import RESNET_SPECS

        d = self.cfg.dream
        ckpt = self.cfg.model.checkpoint
        checkpoint = None if ckpt.startswith("random:") else str(self.cfg.resolve(ckpt))
        if d.net == "discriminator" and checkpoint is None:
            raise ValueError(f"dream.net 'discriminator': the stand-in model.checkpoint {ckpt!r} has no discriminator; "
                             "use a trained checkpoint or dream.net = 'resnet18'")
        weights = str(self.cfg.resolve(d.weights)) if d.weights else None
        net = d.net if d.net == "discriminator" or d.net in RESNET_SPECS else str(self.cfg.resolve(d.net))
        return {"net": net, "checkpoint": checkpoint, "weights": weights, "layer": d.layer,
                "resolution": d.resolution, "octaves": d.octaves, "steps_per_frame": d.steps_per_frame}

    def _make_dreamer(self):
        from installation.content import make_live_dreamer

        return make_live_dreamer(self.device, **self._dreamer_args())

    def _new_worker(self):
        from installation.content import ContentWorker, ProcessContentWorker, WorkerSpec

        m = self.cfg.model
        if m.worker == "process" and not self.opt.offline:  # offline renders stay synchronous (frame-exact)
            try:  # the child builds its dreamer when the first dreamed frame is asked for (D toggles it)
                dream = self._dreamer_args()
            except ValueError:  # no dream possible: _make_dreamer says why when one is asked for
                dream = None
            spec = WorkerSpec(self._generator_spec, str(self.device), m.noise, threads=m.threads, dream=dream)
            return ProcessContentWorker(spec, self.dreamer)
        return ContentWorker(self.G, m.noise, self.dreamer, threads=m.threads)

    def _start_controls(self) -> None:
        """OSC and audio inputs; each is optional and a failure to start one is a warning."""
        from installation.control.wiring import start_controls

        self.controls = start_controls(self)

    def _wake_on_osc(self) -> None:
        """OSC parameter writes (and actions, see post) wake the frame loop."""
        from installation.control.wiring import OscControl

        for control in self.controls:
            if OSC_WAKE and isinstance(control, OscControl):
                control.server.params = _WakingParams(self.params, self._wake)

    def _wait_for_frame(self, seconds: float) -> None:
        """The live clock's sleep until the next frame's deadline; an OSC message ends it
        early and the schedule restarts from then (no short frame after it). Frames still
        start at least half a period apart, so a stream of OSC at most doubles the frame rate."""
        hold = seconds - 0.5 * self.clock.period
        if hold > 0:
            time.sleep(hold)
            seconds -= hold
        if self._wake.wait(seconds):
            self._wake.clear()
            self.clock.restart_schedule()

    @property
    def osc_port(self) -> int | None:
        """The bound OSC port (useful with osc_port=0), or None without OSC."""
        from installation.control.wiring import OscControl

        osc = next((c for c in self.controls if isinstance(c, OscControl)), None)
        return None if osc is None else osc.server.port

    # -- keyframes (the latent side of scenes) -----------------------------------------
    def _make_trajectory(self, seeds: list[int] | None):
        from installation.latent import LatentTrajectory

        cfg, G = self.cfg, self.G
        return LatentTrajectory(
            lambda z: G.mapping(z, None, truncation_psi=1.0),
            z_dim=G.z_dim,
            num_ws=G.num_ws,
            w_avg=G.mapping.w_avg,
            seeds=cfg.latent.seeds if seeds is None else seeds,
            w_keyframes=self._w_files if seeds is None else [],
            mode=cfg.latent.mode,
            seconds_per_keyframe=cfg.latent.seconds_per_keyframe,
            loop=cfg.latent.loop,
            seed=cfg.show.seed,
            truncation_cutoff=cfg.model.truncation_cutoff,
            device=self.device,
        )

    def _set_keyframes(self, seeds: list[int] | None, fade: float, force: bool = False) -> None:
        """Switch to these keyframes (None: the show's), crossfading in W over `fade` seconds.
        Nothing happens when they are the ones already running."""
        lat = self.cfg.latent
        key = (
            tuple(lat.seeds if seeds is None else seeds),
            len(self._w_files) if seeds is None else 0,
            lat.mode, lat.seconds_per_keyframe, lat.loop,
        )
        if key == self._keyframes_key and not force:
            return
        new = self._make_trajectory(seeds)
        if self._last_w is not None and fade > 0:
            self._latent_from = self._last_w
            self._latent_fade = [0.0, float(fade)]
        else:
            self._latent_from = None
        self.trajectory = new
        self._keyframes_key = key
        self._scene_seeds = seeds

    def _enter_scene(self, scene: Scene | None, fade: float) -> None:
        """The non-parameter parts of a scene: keyframes and mappings (called by the director)."""
        seeds = scene.seeds if scene is not None else None
        self._set_keyframes(seeds, fade)
        mappings = scene.mappings if scene is not None and scene.mappings is not None else self.cfg.mappings
        if list(mappings) != self._mappings:
            from installation.control.wiring import apply_mappings

            apply_mappings(self, mappings)
            self._mappings = list(mappings)

    # -- actions (called from control threads: only enqueue) --------------------------------
    def post(self, name: str, *args) -> None:
        """Thread-safe; never blocks. A full queue (a flood) drops the action and counts it."""
        try:
            self.actions.put_nowait((name, args))
        except queue.Full:
            self.stats.actions_dropped += 1
            return
        if OSC_WAKE:
            self._wake.set()

    def _drain_actions(self, t: float) -> None:
        """Run the queued actions (at most ACTIONS_PER_FRAME). Of the LAST_ONLY kinds only the
        newest of a frame runs; the THROTTLED kinds (each costs the mapping network or a new
        path) run at most every THROTTLE_SECONDS of show time, the newest waiting its turn."""
        batch = []
        while len(batch) < ACTIONS_PER_FRAME:
            try:
                batch.append(self.actions.get_nowait())
            except queue.Empty:
                break
        last = {name: i for i, (name, _) in enumerate(batch) if name in LAST_ONLY_ACTIONS}
        batch = [a for i, a in enumerate(batch) if last.get(a[0], i) == i]
        for name, args in [*self._deferred.items(), *batch]:
            if name in THROTTLED_ACTIONS:
                if t - self._throttled_at.get(name, -1e9) < THROTTLE_SECONDS:
                    self._deferred[name] = args  # the newest waits
                    continue
                self._deferred.pop(name, None)
                self._throttled_at[name] = t
            handler: Callable | None = getattr(self, f"_action_{name}", None)
            if handler is None:
                if self._errors.first(f"unknown action {name}"):
                    log.warning("unknown action %r", name)
                continue
            self._guard(f"action {name}", handler, *args)

    def _action_next_keyframe(self) -> None:
        self.trajectory.next_keyframe()

    def _action_previous_keyframe(self) -> None:
        self.trajectory.previous_keyframe()

    def _action_jump_to_seed(self, seed) -> None:
        if self.trajectory.num_keyframes > len(self._keyframes_key[0]) + len(self._w_files) + EXTRA_KEYFRAMES:
            self._set_keyframes(self._scene_seeds, 0.0, force=True)  # many jumps: memory stays flat
        self.trajectory.jump_to_seed(int(seed))

    def _action_scene(self, name_or_index) -> None:
        if isinstance(name_or_index, str) and name_or_index not in self.cfg.scenes and name_or_index.isdigit():
            name_or_index = int(name_or_index)
        self.director.go_to_scene(name_or_index)

    def _action_cue_next(self) -> None:
        self.director.next_cue()

    def _action_cue_previous(self) -> None:
        self.director.previous_cue()

    def _action_reload_show(self) -> None:
        if time.monotonic() - self._last_reload_at >= RELOAD_MIN_SECONDS:  # a flood must not cost frames
            self.reload_show()

    def _action_toggle_dream(self) -> None:
        if self.dreamer is None:
            self.dreamer = self._make_dreamer()
            self.worker.dreamer = self.dreamer  # a worker process builds its own (lazily, from its spec)
        self.dream_on = not self.dream_on

    def _action_record_start(self, path=None) -> None:
        if self.recorder is None:
            self.start_recording(self._recording_path(path))

    def _action_record_stop(self) -> None:
        self.stop_recording()

    def _action_quit(self) -> None:
        self._stop_requested = True

    def request_stop(self) -> None:
        """Thread- and signal-safe: the loop ends after the current frame."""
        self._stop_requested = True

    # -- recording ------------------------------------------------------------------------
    def _recording_path(self, name: str | None) -> Path:
        """Where R / OSC record/start write: the show file's record.path (relative to the show),
        else recording-<time>.mp4 in the working directory. A name from OSC is a bare file
        name ending in .mp4, put in that same folder: a sender cannot choose where we write."""
        cfg = self.cfg
        default = cfg.resolve(cfg.record.path) if cfg.record.path else Path.cwd() / "recording.mp4"
        if name is not None:
            if not RECORDING_NAME.fullmatch(str(name)) or str(name).startswith("."):
                raise ValueError(f"record/start {name!r}: expected a file name like 'take1.mp4' (no folders)")
            path = default.parent / str(name)
        else:
            path = default
        return take_path(path, stamp=not cfg.record.path and name is None)  # never a name in use

    def start_recording(self, path: Path) -> None:
        from installation.record import VideoRecorder

        cfg = self.cfg
        self.recorder = VideoRecorder(
            path,
            cfg.show.fps,
            (cfg.show.width, cfg.show.height),
            crf=cfg.record.crf,
            preset=cfg.record.preset,
            queue_size=cfg.record.queue,
            block=self.opt.offline,
            audio_path=self.opt.audio_file if self.opt.offline else None,
            channels=4,  # the frames come from ShaderChain.read_rgba
            wall_clock=not self.opt.offline,  # live: the video follows the wall clock, whatever wakes the loop
        )
        log.info("recording to %s", path)

    def stop_recording(self) -> Path | None:
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

    def _recording_failed(self) -> None:
        """A write error (disk full, encoder gone): drop the recorder, log, go on."""
        path = self.recorder.path
        self.stop_recording()
        log.error("recording %s stopped; the show goes on without it", path)
        if self.opt.offline:
            self._stop_requested = True  # a render without its file has nothing left to do

    # -- hot reload -----------------------------------------------------------------------
    def reload_show(self) -> bool:
        """Read the show file again and apply it; an invalid version keeps the last good one
        (the error is logged once, and outside gallery mode shown in the window title)."""
        from installation.config import load_show
        from installation.control.wiring import check_mappings

        if self.show_path is None:
            raise ValueError("this show was not started from a file; nothing to reload")
        self._last_reload_at = time.monotonic()
        try:
            new = load_show(self.show_path, self.opt.overrides, reload=True)
            w_files = self._load_w_files(new)
            check_mappings(new, self.params)
        except Exception as e:  # noqa: BLE001 - any bad edit: keep the last good version
            self.stats.reload_errors += 1
            message = str(e)
            if message != self._last_reload_error:
                self._last_reload_error = message
                log.error("show file not applied, the last good version stays:\n%s", message)
                self._show_problem(f"show file error: {message.splitlines()[-1].strip()}")
            return False
        kept = _restart_only_changes(self.cfg, new)
        if kept:
            log.warning("show file: %s changed; that takes a restart (the running values stay)", ", ".join(kept))
            _keep_running_values(self.cfg, new, kept)
        old = self.cfg
        self.cfg = new
        self._w_files = w_files
        self.director.reload(new, RELOAD_FADE_SECONDS)
        scene = new.scenes.get(self.director.scene_name) if self.director.scene_name else None
        force = old.latent.w_files != new.latent.w_files
        if force and (scene is None or scene.seeds is None):
            self._keyframes_key = None
        self._enter_scene(scene, RELOAD_FADE_SECONDS)
        if old.dream.enabled != new.dream.enabled and new.dream.enabled != self.dream_on:
            self._guard("dream", self._action_toggle_dream)
        self.stats.reloads += 1
        self._last_reload_error = None
        self._show_problem(None)
        log.info("show file reloaded: %s", self.show_path)
        return True

    def _poll_show_file(self) -> None:
        stamp = _file_stamp(self.show_path)
        if stamp is None or stamp == self._show_stamp:  # missing: an editor mid-save; wait
            return
        if stamp != self._show_pending:  # changed since the last look: maybe still being written
            self._show_pending = stamp
            return
        self._show_stamp = stamp
        self.reload_show()

    def _reload_shaders(self) -> None:
        # The shader library logs each failed edit once (file:line); here it is also shown.
        errors = self.chain.reload_if_changed()
        for message in errors:
            self.stats.reload_errors += 1
            self._shader_error_shown = True
            self._show_problem(f"shader error: {message.splitlines()[0]}")
        if not errors and self._shader_error_shown and not self.chain.library.failing:  # all fixed
            self._shader_error_shown = False
            last = self._last_reload_error
            self._show_problem(None if last is None else f"show file error: {last.splitlines()[-1].strip()}")

    def _show_problem(self, message: str | None) -> None:
        """Outside gallery mode, a problem is also shown in the window title (None clears it)."""
        if self.gallery:
            return
        set_title = getattr(self.window, "set_title", None)
        if set_title is not None:
            title = self.cfg.show.name if message is None else f"{self.cfg.show.name} - {message[:160]}"
            self._guard("title", set_title, title)

    # -- watchdog -------------------------------------------------------------------------
    def _watch_worker(self, now: float) -> None:
        """A worker that died, or made no frame (nor failed one) for watchdog_seconds while
        being asked (before its first frame: at least its start_grace_seconds), is replaced
        by a new one (the old one is abandoned, not joined)."""
        w = self.worker
        progress = (id(w), w.frames_made, w.errors)
        if progress != self._wd_progress:
            self._wd_progress, self._wd_since = progress, now
        limit = self.opt.watchdog_seconds or self.cfg.gallery.watchdog_seconds
        if w.frames_made == 0 and w.errors == 0:  # still starting (a worker process takes seconds)
            limit = max(limit, w.start_grace_seconds)
        if w.alive and now - self._wd_since <= limit:
            return
        why = "died" if not w.alive else f"made no frame for {now - self._wd_since:.0f} s"
        if self._errors.first(f"worker {why.split()[0]}"):
            log.error("content worker %s; starting a new one (the last frame stays meanwhile)", why)
        w.stop(timeout=0)
        self.worker = self._new_worker()
        self.worker.start()
        self.stats.worker_restarts += 1
        self._wd_progress, self._wd_since = None, now

    # -- the frame loop --------------------------------------------------------------------
    def _guard(self, what: str, fn: Callable, *args):
        """Run one step; an error is logged once per kind and the show goes on."""
        try:
            return fn(*args)
        except Exception as e:
            self.stats.frame_errors += 1
            now = time.monotonic()
            if now - self._last_logged.get(what, -1e9) >= LOG_EVERY_SECONDS and self._errors.first(_error_key(what, e)):
                self._last_logged[what] = now
                log.exception("%s failed; the show goes on (further errors like this one are only counted)", what)
            return None

    def _safe_params(self, p: dict[str, float]) -> dict[str, float]:
        """Every value finite and inside its range, whatever wrote it."""
        specs = self.params.specs
        for key, v in p.items():
            spec = specs[key]
            if not math.isfinite(v):
                p[key] = spec.default
            elif v < spec.lo or v > spec.hi:
                p[key] = min(max(v, spec.lo), spec.hi)
        return p

    @staticmethod
    def _advance(trajectory, p: dict[str, float], dt: float) -> torch.Tensor:
        trajectory.walk_step = p["latent.walk_step"]
        trajectory.advance(dt, p["latent.speed"])
        with torch.no_grad():
            return trajectory.w(p["latent.truncation"])  # [1, num_ws, w_dim]

    def _content_request(self, p: dict[str, float], dt: float):
        from installation.latent import smoothstep

        w = self._advance(self.trajectory, p, dt)
        if self._latent_from is not None:  # keyframes changed: crossfade in W
            self._latent_fade[0] += dt
            elapsed, duration = self._latent_fade
            old = self._latent_from
            w = old + (w - old) * smoothstep(elapsed / duration)
            if elapsed >= duration:
                self._latent_from = None
        if not bool(torch.isfinite(w).all()):
            self.trajectory.set_offset(None)  # the usual culprit; the path itself is finite
            raise FloatingPointError("latent w holds NaN or Inf: frame skipped (the last good frame stays)")
        self._last_w = w
        return w

    def _push_content(self, image) -> bool:
        image = np.asarray(image)
        if image.dtype != np.uint8:  # a float frame (e.g. from a dreamer): NaN/Inf become 0
            image = np.clip(np.nan_to_num(image.astype(np.float32), nan=0.0, posinf=255.0, neginf=0.0), 0, 255)
            image = image.astype(np.uint8)
        self.chain.push_content(image)
        return True

    def run(self, frames: int | None = None, seconds: float | None = None, on_frame: Callable | None = None) -> ShowStats:
        """Play until `frames`, `seconds`, the window closes, or a stop is requested.

        Offline, `seconds` means show time (exactly seconds * fps frames); live, it means
        wall-clock seconds, however many frames the machine manages in them."""
        offline = self.opt.offline
        deadline = None
        if frames is None and seconds is not None:
            if offline:
                frames = max(1, round(seconds * self.cfg.show.fps))
            else:
                deadline = time.perf_counter() + seconds
        if not offline and not self.worker.alive:
            self.worker.start()
        if not self._started:
            self._started = True
            self._guard("cue", self.director.start)
        bar = None
        if self.opt.progress and frames:
            from tqdm import tqdm

            bar = tqdm(total=frames, unit="frame", desc="render")
        newest_at = 0.0
        content_interval = 1.0 / self.cfg.show.fps
        last_upkeep = -1e9
        wall_start = time.perf_counter()
        self._wd_progress, self._wd_since = None, wall_start
        switch_interval, torch_threads = sys.getswitchinterval(), torch.get_num_threads()
        if not offline:
            # Every torch op of the frame releases the GIL; a busy thread (an OSC flood) would then
            # keep it for a whole switch interval (5 ms) each time. A short one bounds that wait.
            sys.setswitchinterval(min(switch_interval, LIVE_SWITCH_INTERVAL))
            # The display thread's torch work (the mapping network, slerp_z) is tiny; a team of
            # OpenMP threads for it spins and starves the (lower-priority) content worker: measured
            # 14 vs 169 content frames in 6 s of default.toml at 160x90 on 2 cores. (Per thread.)
            torch.set_num_threads(1)
        try:
            k = 0
            while not self._stop_requested and (frames is None or k < frames):
                if self.window.should_close() or (deadline is not None and time.perf_counter() >= deadline):
                    break
                t, dt = self.clock.tick()
                for key in self.window.poll():
                    self._guard("key", self.handle_key, key)
                self._drain_actions(t)
                self._guard("cues", self.director.update, dt)
                for control in self.controls:
                    self._guard("control", control.update, t, dt)
                self._wake.clear()  # what woke this frame is in this snapshot
                p = self._safe_params(self.params.snapshot(dt))
                self.params_now = p
                w = self._guard("latent", self._content_request, p, dt)
                if w is not None:
                    if offline:
                        frame = self._guard("content", self.worker.produce, _request(w, p, self.dream_on))
                    else:
                        self.worker.submit(w, p, self.dream_on)
                        frame = self.worker.take()
                    if frame is not None and self._guard("upload", self._push_content, frame.image):
                        self.stats.content_frames += 1
                        if not offline and newest_at > 0:
                            content_interval = 0.8 * content_interval + 0.2 * max(1e-3, t - newest_at)
                        newest_at = t
                mix = 1.0 if offline or not self.cfg.crossfade.enabled else min(1.0, (t - newest_at) / content_interval)
                tex = self._guard("render", self.chain.render, p, t, mix)
                if tex is not None:  # else nothing is presented: the last good frame stays up
                    self._guard("present", self.window.present, tex)
                if self.recorder is not None or on_frame is not None:
                    # RGBA: a plain copy out of GL (an RGB read repacks every pixel, ~10x slower)
                    pixels = self._guard("read", self.chain.read_rgba)
                    if pixels is not None:
                        if self.recorder is not None:
                            self._guard("record", self.recorder.write, pixels, RECORD_COPY)
                        if on_frame is not None:
                            on_frame(k, pixels[..., :3])
                if self.recorder is not None and self.recorder.error is not None:
                    self._guard("record", self._recording_failed)
                if not offline:
                    now = time.perf_counter()
                    self._guard("watchdog", self._watch_worker, now)
                    if now - last_upkeep >= self.opt.reload_interval:
                        last_upkeep = now
                        if self.cfg.show.hot_reload:
                            self._guard("shader reload", self._reload_shaders)
                            if self.show_path is not None:
                                self._guard("show reload", self._poll_show_file)
                k += 1
                self.stats.frames += 1
                if self.stats.frames == 1:
                    log.info("first frame shown")
                if bar is not None:
                    bar.update(1)
        finally:
            sys.setswitchinterval(switch_interval)
            if not offline:
                torch.set_num_threads(torch_threads)
            if bar is not None:
                bar.close()
            self.stats.seconds += time.perf_counter() - wall_start
            self.stats.display_fps = list(getattr(self.clock, "fps_history", []))
        return self.stats

    def handle_key(self, key: str) -> None:
        """Esc quit (gallery: twice within 2 s); Space / Backspace next / previous keyframe;
        Right, Page Down, N / Left, Page Up, P: next / previous cue (without cues: keyframe);
        1-9: cue 1-9; D dream on/off; F fullscreen; R record on/off; S screenshot."""
        now = time.monotonic()
        if key == "escape":
            if not self.gallery or now - self._last_escape <= GALLERY_ESC_SECONDS:
                self._stop_requested = True
            else:
                self._last_escape = now
                log.info("gallery mode: press Esc again within %.0f s to quit", GALLERY_ESC_SECONDS)
        elif key == "space":
            self.trajectory.next_keyframe()
        elif key == "backspace":
            self.trajectory.previous_keyframe()
        elif key in ("right", "page_down", "n"):
            self.director.next_cue() if self.cfg.cues else self.trajectory.next_keyframe()
        elif key in ("left", "page_up", "p"):
            self.director.previous_cue() if self.cfg.cues else self.trajectory.previous_keyframe()
        elif len(key) == 1 and key in "123456789":
            if int(key) <= len(self.cfg.cues):
                self.director.go_to_cue(int(key) - 1)
        elif key == "d":
            self._action_toggle_dream()
        elif key == "f":
            self.opt.fullscreen = not self.opt.fullscreen
            self.window.set_fullscreen(self.opt.fullscreen, self.opt.monitor)
        elif key == "r":
            if self.recorder is None:
                self._action_record_start()
            else:
                self.stop_recording()
        elif key == "s":
            from PIL import Image

            path = Path(f"screenshot-{time.strftime('%Y%m%d-%H%M%S')}.png")
            Image.fromarray(self.window.read()).save(path)
            log.info("screenshot: %s", path)

    def status(self) -> dict:
        """For OSC status replies (called on the OSC thread: reads only)."""
        clock = self.clock.stats() if hasattr(self.clock, "stats") else {}
        return {
            "fps": float(clock.get("fps", 0.0)),
            "content_fps": float(self.worker.content_fps()),
            "scene": self.director.scene_name or self.cfg.show.name,
            "recording": self.recorder is not None,
        }

    def close(self) -> ShowStats:
        """Stop everything; the recording is always finalised. Safe on a half-built show."""
        for control in self.controls:
            try:
                control.stop()
            except Exception:
                log.exception("stopping a control failed")
        if self.worker is not None:
            try:
                self.worker.stop()
            except Exception:  # the recording below must be finalised whatever happens here
                log.exception("stopping the content worker failed")
        try:
            self.stop_recording()
        finally:
            try:
                if self.chain is not None:
                    self.chain.release()
                    self.chain = None
            finally:
                if self.window is not None:
                    self.window.close()
        return self.stats

    def __enter__(self) -> "Show":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _WakingParams:
    """The show's Params as the OSC server sees them: every write also wakes the frame loop."""

    def __init__(self, params: Params, wake: threading.Event):
        self._params = params
        self._wake = wake

    def set(self, key: str, value, smoothing: bool = True):
        result = self._params.set(key, value, smoothing)
        self._wake.set()
        return result

    def __getattr__(self, name):
        return getattr(self._params, name)


def _request(w, p, dream):
    from installation.content import ContentRequest

    return ContentRequest(w=w, params=p, dream=dream)
