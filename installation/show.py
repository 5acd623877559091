"""The show's frame loop: builds the parts (ARCHITECTURE.md: who owns what), then asks each
for its piece of every frame, each step guarded (guard.py) so nothing stops a live show.

Live (`play`): the content worker runs on its own thread; the display never waits for it
and crossfades between the last two content frames. Offline (`render`): every output frame
gets its own content frame, at exact times k / fps, so renders repeat bit for bit. What a
live frame depends on besides the show file goes through `self.tape` (performance.py), which
logs it (`play --log`) or, replaying (`render --replay`), brings it back at the same frame.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from installation.actions import KEYS, ActionQueue
from installation.config import Scene, ShowConfig
from installation.guard import Guard
from installation.handlers import handler_table
from installation.live import Frame
from installation.outputs import Outputs
from installation.params import Params
from installation.performance import open_tape
from installation.recording import Recording
from installation.reload import HotReload, upkeep
from installation.show_options import ShowOptions, ShowStats  # noqa: F401 - imported from here
from installation.watchdog import Watchdog

log = logging.getLogger(__name__)


class Show:
    def __init__(self, cfg: ShowConfig, options: ShowOptions | None = None, show_path: Path | None = None):
        from installation.content import ContentTiming, ContentWorker
        from installation.control.sink import ControlSink
        from installation.control.wiring import Controls
        from installation.device import pick_device
        from installation.latent_director import LatentDirector
        from installation.models.checkpoint import load_generator
        from installation.models.upscaler import load_upscaler
        from installation.render.chain import ShaderChain
        from installation.render.window import open_window
        from installation.scenes import CueDirector

        self.cfg = cfg
        self.opt = opt = options or ShowOptions()
        self.stats = ShowStats()
        self.guard = Guard(self.stats)
        self.params = Params(cfg)
        self.params_now = Frame.defaults()  # the last frame's live values (frame.warp.swirl)
        self._impulse_rng = np.random.default_rng(cfg.show.seed)  # where audio onsets push the pigment
        self.stop_requested = False
        self._started = False
        self.wake = threading.Event()  # set by OSC input: start the next frame now
        self.actions = ActionQueue(on_post=self.wake.set, stats=self.stats)
        self.handlers: dict[str, Callable] = {}
        self.reloader = HotReload(Path(show_path) if show_path is not None else None, opt.overrides, self.stats)
        self.dream_on = cfg.dream.enabled
        self.tape = open_tape(opt, cfg, show_path)  # performance.py: play --log, render --replay, or neither
        self.recording = Recording(cfg, self.stats, offline=opt.offline, audio_file=opt.audio_file,
                                   clock=lambda: self.clock.t, paced=self.tape.live_timing)
        self.outputs = Outputs(self.recording, self.guard)  # the recording, NDI, the virtual camera
        self.controls = self.window = self.chain = self.worker = None

        # Everything that can fail on bad input fails here, before the first frame.
        self.device = pick_device(cfg.model.device)
        torch.manual_seed(cfg.show.seed)
        ckpt = cfg.model.checkpoint
        self.G = load_generator(ckpt if ckpt.startswith("random:") else cfg.resolve(ckpt), self.device)
        self.latent = LatentDirector(cfg, self.G, self.device)
        self.dreamer = self.make_dreamer() if cfg.dream.enabled else None
        up = load_upscaler(cfg.resolve(cfg.show.upscaler), self.device) if cfg.show.upscale == "learned" else None
        self._new_worker = lambda: ContentWorker(self.G, cfg.model.noise, self.dreamer, cfg.model.threads, upscaler=up)
        self.worker = self._new_worker()
        self.timing = ContentTiming(cfg.show.fps, live=self.tape.live_timing)  # arrivals and the crossfade
        try:
            w, h = cfg.show.width, cfg.show.height
            self.window = open_window(
                opt.headless, w, h, fullscreen=opt.fullscreen, monitor=opt.monitor, title=cfg.show.name,
                **({} if opt.headless else {"hide_cursor": self.gallery}),
            )
            self.chain = ShaderChain(
                self.window.ctx, w, h, shader_dir=self._shader_dir(cfg), render_scale=cfg.show.render_scale,
                fit=cfg.show.fit, tiles=cfg.show.tiles, pigment=cfg.pigment.enabled,
            )
            self.clock = self.tape.make_clock(cfg.show.fps, self.wake)
            self.cues = CueDirector(cfg, self.params, on_scene=self._enter_scene)
            self.sink = ControlSink(self.params, self.actions.post, wake=self.wake.set)
            # Before the recording: a bad mapping or audio file leaves no empty file behind.
            self.controls = Controls(cfg, self.sink, offline=opt.offline, status=self.status, osc_port=opt.osc_port,
                                     audio_file=None if self.tape.replaying else opt.audio_file,  # replay: only muxed
                                     query_port=opt.query_port, midi_port=opt.midi_port, link=opt.link)
            self.outputs.open(cfg, opt)
            self.handlers = handler_table(self)
            self.tape.attach(self)
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

    def make_dreamer(self):
        from installation.content import dreamer_for_show

        return dreamer_for_show(self.cfg, self.device)

    # -- actions: one handler table (handlers.py), fed by keys, OSC (through the sink) and cues
    def post(self, name: str, *args) -> None:
        """Thread-safe; never blocks. A full queue (a flood) drops the action and counts it."""
        self.actions.post(name, *args)

    def run_action(self, name: str, *args) -> None:
        self.tape.action(name, args)
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

    def request_stop(self) -> None:
        """Thread- and signal-safe: the loop ends after the current frame."""
        self.stop_requested = True

    def _enter_scene(self, scene: Scene | None, fade: float) -> None:
        """The non-parameter parts of a scene (called by the cue director)."""
        self.latent.enter_scene(scene, fade)
        self.controls.set_mappings(scene.mappings if scene is not None and scene.mappings is not None
                                   else self.cfg.mappings)

    # -- hot reload (reload.py) ------------------------------------------------------------
    def reload_show(self) -> bool:
        """Read the show file again and apply it; an invalid version keeps the last good one."""
        from installation.reload import apply_show_file

        return apply_show_file(self)

    # -- the frame loop --------------------------------------------------------------------
    def run(self, frames: int | None = None, seconds: float | None = None, on_frame: Callable | None = None) -> ShowStats:
        """Play until `frames`, `seconds`, the window closes, or a stop is requested.

        Offline, `seconds` means show time (exactly seconds * fps frames); live, it means
        wall-clock seconds, however many frames the machine manages in them."""
        from installation.content import ContentRequest, as_uint8, live_display_thread

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
        last_upkeep = -1e9
        wall_start = time.perf_counter()
        watchdog = Watchdog(self.opt.watchdog_seconds or self.cfg.gallery.watchdog_seconds, self.guard.seen, self.stats, wall_start)
        restore_thread = live_display_thread(live=not offline)
        try:
            k = 0
            while not self.stop_requested and (frames is None or k < frames):
                if self.window.should_close() or (deadline is not None and time.perf_counter() >= deadline):
                    break
                t, dt = self.clock.tick()
                for key in self.window.poll():
                    self.handle_key(key)
                for name, args in [*self.tape.begin(t), *self.actions.drain(t)]:  # replaying: the logged ones
                    self.run_action(name, *args)
                self.guard("cues", self.cues.update, dt)
                self.guard("control", self.controls.update, t, dt)
                self.tape.features(self.sink)
                self.wake.clear()  # what woke this frame is in this snapshot
                p = self.params_now = self.params.snapshot(dt)
                features = self.sink.features()
                w = self.guard("latent", self.latent.step, p, dt, features)
                if p.pigment.onset_impulse > 0.0 and features.get("audio.onset", 0.0) > 0.0:
                    # An onset pushes the pigment outward from a random point (seeded: renders repeat).
                    x, y = (float(v) for v in self._impulse_rng.uniform(0.2, 0.8, 2))
                    self.chain.impulse(x, y, p.pigment.onset_impulse)
                if w is not None:
                    req = ContentRequest(w, p, self.dream_on, noise=self.latent.last_noise)
                    frame = self.tape.content(req, self.worker, self.guard)
                    if frame is not None and self.guard.ok("upload", self.chain.push_content, as_uint8(frame.image)):
                        self.stats.content_frames += 1
                        self.timing.arrived(t)
                mix = self.timing.mix(t, self.cfg.crossfade.enabled)
                tex = self.guard("render", self.chain.render, p, t, mix, self.outputs.reads_back(on_frame))
                if tex is not None:  # else nothing is presented: the last good frame stays up
                    self.guard("present", self.window.present, tex)
                recorded = self.outputs.write(k, self.chain.read_rgba, on_frame)  # False: the recording failed
                self.guard("log", self.tape.end)
                if not recorded:
                    self.stop_requested |= offline  # a render without its file has nothing left to do
                if not offline:
                    now = time.perf_counter()
                    self.worker = self.guard("watchdog", watchdog.check, self.worker, now, self._new_worker) or self.worker
                    if now - last_upkeep >= self.opt.reload_interval:
                        last_upkeep = now
                        upkeep(self)
                k += 1
                self.stats.frames += 1
                if self.stats.frames == 1:
                    log.info("first frame shown")
                if bar is not None:
                    bar.update(1)
        finally:
            restore_thread()
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
        parts = ((self.controls, "the controls"), (self.outputs, "the video outputs"),
                 (self.worker, "the content worker"), (self.tape, "the log"))
        for part, what in parts:
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
