"""The show's frame loop: builds the parts, then asks each for its piece of every frame.

Who owns what (ARCHITECTURE.md): the latent director (w), the content worker (pixels), the
shader chain (look), the window, recording, the action queue and its handler table, hot
reload, the watchdog, the controls (behind a narrow sink) and the cue director.

Live (`play`): the content worker runs on its own thread; the display never waits for it
and crossfades between the last two content frames. Offline (`render`): every output frame
gets its own content frame, at exact times k / fps, so renders repeat bit for bit. Nothing
the outside does may stop a live show: each step of a frame runs guarded (guard.py).
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from installation.actions import KEYS, ActionQueue
from installation.config import Scene, ShowConfig
from installation.guard import Guard
from installation.params import Params
from installation.recording import Recording
from installation.reload import RELOAD_FADE_SECONDS, HotReload
from installation.watchdog import Watchdog

log = logging.getLogger(__name__)

GALLERY_ESC_SECONDS = 2.0  # gallery mode: the second Esc must come within this time
LIVE_SWITCH_INTERVAL = 0.001  # seconds; see Show.run


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


class Show:
    def __init__(self, cfg: ShowConfig, options: ShowOptions | None = None, show_path: Path | None = None):
        from installation.clock import FrameClock
        from installation.content import ContentWorker
        from installation.control.sink import ControlSink
        from installation.control.wiring import Controls
        from installation.device import pick_device
        from installation.latent_director import LatentDirector
        from installation.models.checkpoint import load_generator
        from installation.render.chain import ShaderChain
        from installation.render.window import open_window
        from installation.scenes import CueDirector

        self.cfg = cfg
        self.opt = opt = options or ShowOptions()
        self.stats = ShowStats()
        self.guard = Guard(self.stats)
        self.params = Params(cfg)
        self.params_now: dict[str, float] = {}  # the last frame's parameter snapshot
        self.stop_requested = False
        self._started = False
        self._last_escape = -1e9
        self.wake = threading.Event()  # set by OSC input: start the next frame now
        self.actions = ActionQueue(on_post=self.wake.set, stats=self.stats)
        self.handlers: dict[str, Callable] = {}
        self.reloader = HotReload(Path(show_path) if show_path is not None else None, opt.overrides, self.stats)
        self.dream_on = cfg.dream.enabled
        self.recording = Recording(cfg, self.stats, offline=opt.offline, audio_file=opt.audio_file)
        self.controls = self.window = self.chain = self.worker = None

        # Everything that can fail on bad input fails here, before the first frame.
        self.device = pick_device(cfg.model.device)
        torch.manual_seed(cfg.show.seed)
        ckpt = cfg.model.checkpoint
        self.G = load_generator(ckpt if ckpt.startswith("random:") else cfg.resolve(ckpt), self.device)
        self.latent = LatentDirector(cfg, self.G, self.device)
        self.dreamer = self._make_dreamer() if cfg.dream.enabled else None
        self._new_worker = lambda: ContentWorker(self.G, cfg.model.noise, self.dreamer, threads=cfg.model.threads)
        self.worker = self._new_worker()
        try:
            w, h = cfg.show.width, cfg.show.height
            self.window = open_window(
                opt.headless, w, h, fullscreen=opt.fullscreen, monitor=opt.monitor, title=cfg.show.name,
                **({} if opt.headless else {"hide_cursor": self.gallery}),
            )
            self.chain = ShaderChain(
                self.window.ctx, w, h, shader_dir=self._shader_dir(cfg), render_scale=cfg.show.render_scale,
                fit=cfg.show.fit, tiles=cfg.show.tiles,
            )
            self.clock = FrameClock(cfg.show.fps, offline=opt.offline, sleep_fn=self.wait_for_frame)
            self.cues = CueDirector(cfg, self.params, on_scene=self._enter_scene)
            self.sink = ControlSink(self.params, self.actions.post, wake=self.wake.set)
            # Before the recording: a bad mapping or audio file leaves no empty file behind.
            self.controls = Controls(cfg, self.sink, offline=opt.offline, status=self.status,
                                     osc_port=opt.osc_port, audio_file=opt.audio_file)
            self.handlers = self._handler_table()
            if opt.record is not None:
                self.recording.start(opt.record)
            elif cfg.record.path and not opt.offline:
                self.recording.start()
        except BaseException:
            self.close()  # what was opened is released, a started recording removed
            raise

    @property
    def gallery(self) -> bool:
        return self.opt.gallery or self.cfg.gallery.enabled

    @property
    def osc_port(self) -> int | None:
        """The bound OSC port (useful with osc_port=0), or None without OSC."""
        return None if self.controls is None else self.controls.osc_port

    def _shader_dir(self, cfg: ShowConfig) -> Path:
        from installation.render.shaders import DEFAULT_SHADER_DIR

        if self.opt.shader_dir is not None:
            return Path(self.opt.shader_dir)
        return cfg.resolve(cfg.show.shaders) if cfg.show.shaders else DEFAULT_SHADER_DIR

    def _make_dreamer(self):
        from installation.content import make_live_dreamer
        from installation.dreamers import RESNET_SPECS

        d, ckpt = self.cfg.dream, self.cfg.model.checkpoint
        if d.net == "discriminator" and ckpt.startswith("random:"):
            raise ValueError(f"dream.net 'discriminator': the stand-in model.checkpoint {ckpt!r} has no discriminator; "
                             "use a trained checkpoint or dream.net = 'resnet18'")
        return make_live_dreamer(
            self.device, net=d.net if d.net == "discriminator" or d.net in RESNET_SPECS else str(self.cfg.resolve(d.net)),
            checkpoint=None if ckpt.startswith("random:") else str(self.cfg.resolve(ckpt)),
            weights=str(self.cfg.resolve(d.weights)) if d.weights else None, layer=d.layer,
            resolution=d.resolution, octaves=d.octaves, steps_per_frame=d.steps_per_frame)

    def wait_for_frame(self, seconds: float) -> None:
        """The live clock's sleep until the next frame's deadline; an OSC message ends it
        early and the schedule restarts from then (no short frame after it). Frames still
        start at least half a period apart, so a stream of OSC at most doubles the frame rate."""
        hold = seconds - 0.5 * self.clock.period
        if hold > 0:
            time.sleep(hold)
            seconds -= hold
        if self.wake.wait(seconds):
            self.wake.clear()
            self.clock.restart_schedule()

    # -- actions: one handler table, fed by keys, OSC (through the sink) and cues ----------
    def _handler_table(self) -> dict[str, Callable]:
        latent, cues = self.latent, self.cues
        return {
            "next_keyframe": latent.next_keyframe,
            "previous_keyframe": latent.previous_keyframe,
            "jump_to_seed": latent.jump_to_seed,
            "scene": lambda s: cues.go_to_scene(int(s) if isinstance(s, str) and s not in self.cfg.scenes
                                                and s.isdigit() else s),
            "cue_next": cues.next_cue,
            "cue_previous": cues.previous_cue,
            "go_to_cue": lambda i: cues.go_to_cue(i) if i < len(self.cfg.cues) else None,
            "step_next": lambda: cues.next_cue() if self.cfg.cues else latent.next_keyframe(),
            "step_previous": lambda: cues.previous_cue() if self.cfg.cues else latent.previous_keyframe(),
            "reload_show": lambda: None if self.reloader.too_soon() else self.reload_show(),
            "toggle_dream": self._toggle_dream,
            "record_start": lambda name=None: self.recording.start(name=name),
            "record_stop": self.recording.stop,
            "record_toggle": lambda: self.recording.stop() if self.recording.active else self.recording.start(),
            "fullscreen": self._toggle_fullscreen,
            "screenshot": self._screenshot,
            "quit": self._quit,
        }

    def post(self, name: str, *args) -> None:
        """Thread-safe; never blocks. A full queue (a flood) drops the action and counts it."""
        self.actions.post(name, *args)

    def run_action(self, name: str, *args) -> None:
        handler = self.handlers.get(name)
        if handler is None:
            if self.guard.seen.first(f"unknown action {name}"):
                log.warning("unknown action %r", name)
            return
        self.guard(f"action {name}", handler, *args)

    def handle_key(self, key: str) -> None:
        """A window key runs its action at once (the table: installation.actions.KEYS)."""
        if key in KEYS:
            self.run_action(KEYS[key][0], *KEYS[key][1])

    def _quit(self) -> None:
        now = time.monotonic()
        if not self.gallery or now - self._last_escape <= GALLERY_ESC_SECONDS:
            self.stop_requested = True
        else:
            self._last_escape = now
            log.info("gallery mode: press Esc again within %.0f s to quit", GALLERY_ESC_SECONDS)

    def _toggle_dream(self) -> None:
        if self.dreamer is None:
            self.dreamer = self.worker.dreamer = self._make_dreamer()
        self.dream_on = not self.dream_on

    def _toggle_fullscreen(self) -> None:
        self.opt.fullscreen = not self.opt.fullscreen
        self.window.set_fullscreen(self.opt.fullscreen, self.opt.monitor)

    def _screenshot(self) -> None:
        from PIL import Image

        path = Path(f"screenshot-{time.strftime('%Y%m%d-%H%M%S')}.png")
        Image.fromarray(self.window.read()).save(path)
        log.info("screenshot: %s", path)

    def request_stop(self) -> None:
        """Thread- and signal-safe: the loop ends after the current frame."""
        self.stop_requested = True

    def _enter_scene(self, scene: Scene | None, fade: float) -> None:
        """The non-parameter parts of a scene (called by the cue director)."""
        self.latent.enter_scene(scene, fade)
        self.controls.set_mappings(scene.mappings if scene is not None and scene.mappings is not None
                                   else self.cfg.mappings)

    # -- hot reload ----------------------------------------------------------------------
    def reload_show(self) -> bool:
        """Read the show file again and apply it; an invalid version keeps the last good one
        (the error is logged once, and outside gallery mode shown in the window title)."""
        from installation.control.wiring import check_mappings
        from installation.latent_director import load_w_files

        w_files = []
        new = self.reloader.read(self.cfg, lambda cfg: (w_files.extend(load_w_files(cfg)), check_mappings(cfg, self.params)))
        self._show_problem(self.reloader.problem)
        if new is None:
            return False
        old, self.cfg = self.cfg, new
        self.recording.cfg = self.controls.cfg = new
        self.cues.reload(new, RELOAD_FADE_SECONDS)
        scene = new.scenes.get(self.cues.scene_name) if self.cues.scene_name else None
        self.latent.reload(new, w_files, scene, RELOAD_FADE_SECONDS)
        self._enter_scene(scene, RELOAD_FADE_SECONDS)
        if old.dream.enabled != new.dream.enabled and new.dream.enabled != self.dream_on:
            self.guard("dream", self._toggle_dream)
        return True

    def _upkeep(self) -> None:
        if self.cfg.show.hot_reload:
            for message in self.guard("shader reload", self.chain.reload_if_changed) or []:
                self.stats.reload_errors += 1  # the shader library logged it (file:line)
                self._show_problem(f"shader error: {message.splitlines()[0]}")
            if self.reloader.show_path is not None and self.reloader.changed():
                self.guard("show reload", self.reload_show)

    def _show_problem(self, message: str | None) -> None:
        """Outside gallery mode, a problem is also shown in the window title (None clears it)."""
        set_title = getattr(self.window, "set_title", None)
        if not self.gallery and set_title is not None:
            title = self.cfg.show.name if message is None else f"{self.cfg.show.name} - {message[:160]}"
            self.guard("title", set_title, title)

    # -- the frame loop --------------------------------------------------------------------
    def _safe_params(self, p: dict[str, float]) -> dict[str, float]:
        """Every value finite and inside its range, whatever wrote it."""
        for key, v in p.items():
            spec = self.params.specs[key]
            p[key] = spec.default if not math.isfinite(v) else min(max(v, spec.lo), spec.hi)
        return p

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
        from installation.content import ContentRequest

        offline, deadline = self.opt.offline, None
        if frames is None and seconds is not None:
            if offline:
                frames = max(1, round(seconds * self.cfg.show.fps))
            else:
                deadline = time.perf_counter() + seconds
        if not offline and not self.worker.alive:
            self.worker.start()
        if not self._started:
            self._started = True
            self.guard("cue", self.cues.start)
        bar = None
        if self.opt.progress and frames:
            from tqdm import tqdm

            bar = tqdm(total=frames, unit="frame", desc="render")
        newest_at, content_interval, last_upkeep = 0.0, 1.0 / self.cfg.show.fps, -1e9
        wall_start = time.perf_counter()
        watchdog = Watchdog(self.opt.watchdog_seconds or self.cfg.gallery.watchdog_seconds, self.guard.seen, self.stats, wall_start)
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
            while not self.stop_requested and (frames is None or k < frames):
                if self.window.should_close() or (deadline is not None and time.perf_counter() >= deadline):
                    break
                t, dt = self.clock.tick()
                for key in self.window.poll():
                    self.handle_key(key)
                for name, args in self.actions.drain(t):
                    self.run_action(name, *args)
                self.guard("cues", self.cues.update, dt)
                self.guard("control", self.controls.update, t, dt)
                self.wake.clear()  # what woke this frame is in this snapshot
                p = self.params_now = self._safe_params(self.params.snapshot(dt))
                w = self.guard("latent", self.latent.step, p, dt, self.sink.features())
                if w is not None:
                    if offline:
                        frame = self.guard("content", self.worker.produce, ContentRequest(w, p, self.dream_on))
                    else:
                        self.worker.submit(w, p, self.dream_on)
                        frame = self.worker.take()
                    if frame is not None and self.guard("upload", self._push_content, frame.image):
                        self.stats.content_frames += 1
                        if not offline and newest_at > 0:
                            content_interval = 0.8 * content_interval + 0.2 * max(1e-3, t - newest_at)
                        newest_at = t
                mix = 1.0 if offline or not self.cfg.crossfade.enabled else min(1.0, (t - newest_at) / content_interval)
                tex = self.guard("render", self.chain.render, p, t, mix)
                if tex is not None:  # else nothing is presented: the last good frame stays up
                    self.guard("present", self.window.present, tex)
                if self.recording.active or on_frame is not None:
                    # RGBA: a plain copy out of GL (an RGB read repacks every pixel, ~10x slower)
                    pixels = self.guard("read", self.chain.read_rgba)
                    if pixels is not None:
                        if self.recording.active:
                            self.guard("record", self.recording.write, pixels)
                        if on_frame is not None:
                            on_frame(k, pixels[..., :3])
                if self.recording.failed:
                    self.guard("record", self.recording.drop_failed)
                    self.stop_requested |= offline  # a render without its file has nothing left to do
                if not offline:
                    now = time.perf_counter()
                    self.worker = self.guard("watchdog", watchdog.check, self.worker, now, self._new_worker) or self.worker
                    if now - last_upkeep >= self.opt.reload_interval:
                        last_upkeep = now
                        self._upkeep()
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

    def status(self) -> dict:
        """For OSC status replies (called on the OSC thread: reads only)."""
        clock = self.clock.stats() if hasattr(self.clock, "stats") else {}
        return {
            "fps": float(clock.get("fps", 0.0)),
            "content_fps": float(self.worker.content_fps()),
            "scene": self.cues.scene_name or self.cfg.show.name,
            "recording": self.recording.active,
        }

    def close(self) -> ShowStats:
        """Stop everything; the recording is always finalised. Safe on a half-built show."""
        for part, what in ((self.controls, "the controls"), (self.worker, "the content worker")):
            try:
                if part is not None:
                    part.stop()
            except Exception:  # the recording below must be finalised whatever happens here
                log.exception("stopping %s failed", what)
        try:
            self.recording.stop()
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
