"""The show: owns model, trajectory, content worker, shader chain, window, recorder and
controls, and runs the frame loop.

Live (`play`): the content worker runs on its own thread; the display never waits for it
and crossfades between the last two content frames. Offline (`render`): every output frame
gets its own content frame, at exact times k / fps, so renders repeat bit for bit.
"""

from __future__ import annotations

import logging
import queue
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from installation.config import ShowConfig
from installation.params import Params

log = logging.getLogger(__name__)


@dataclass
class ShowOptions:
    headless: bool = True
    offline: bool = False  # frame-exact render: synchronous content, exact clock
    fullscreen: bool = False
    monitor: int = 0
    record: Path | None = None
    osc_port: int | None = None  # overrides the show file's port (0: any free port)
    audio_file: Path | None = None
    gallery: bool = False
    progress: bool = False  # a progress bar (offline renders)


@dataclass
class ShowStats:
    frames: int = 0
    content_frames: int = 0
    seconds: float = 0.0
    display_fps: list[float] = field(default_factory=list)
    frame_errors: int = 0
    recorded: int = 0
    record_dropped: int = 0
    record_path: Path | None = None


class Show:
    def __init__(self, cfg: ShowConfig, options: ShowOptions | None = None, show_path: Path | None = None):
        from installation.clock import FrameClock
        from installation.device import pick_device
        from installation.latent import LatentTrajectory
        from installation.models.checkpoint import load_generator
        from installation.render.chain import ShaderChain
        from installation.render.window import open_window

        self.cfg = cfg
        self.opt = options or ShowOptions()
        self.show_path = show_path
        self.params = Params(cfg)
        self.actions: queue.SimpleQueue[tuple[str, tuple]] = queue.SimpleQueue()
        self.stats = ShowStats()
        self._error_seen: set[str] = set()
        self._stop_requested = False
        self.dream_on = cfg.dream.enabled

        # Everything that can fail on bad input fails here, before the first frame.
        self.device = pick_device(cfg.model.device)
        torch.manual_seed(cfg.show.seed)
        ckpt = cfg.model.checkpoint
        spec = ckpt if ckpt.startswith("random:") else str(cfg.resolve(ckpt))
        self.G = load_generator(spec, self.device)
        w_keyframes = [LatentTrajectory.load_w_file(cfg.resolve(p)) for p in cfg.latent.w_files]
        G = self.G
        self.trajectory = LatentTrajectory(
            lambda z: G.mapping(z, None, truncation_psi=1.0),
            z_dim=G.z_dim,
            num_ws=G.num_ws,
            w_avg=G.mapping.w_avg,
            seeds=cfg.latent.seeds,
            w_keyframes=w_keyframes,
            mode=cfg.latent.mode,
            seconds_per_keyframe=cfg.latent.seconds_per_keyframe,
            loop=cfg.latent.loop,
            seed=cfg.show.seed,
            truncation_cutoff=cfg.model.truncation_cutoff,
            device=self.device,
        )
        self.dreamer = self._make_dreamer() if cfg.dream.enabled else None

        from installation.content import ContentWorker

        self.worker = ContentWorker(self.G, cfg.model.noise, self.dreamer, threads=cfg.model.threads)
        w, h = cfg.show.width, cfg.show.height
        self.window = open_window(
            self.opt.headless, w, h, fullscreen=self.opt.fullscreen, monitor=self.opt.monitor, title=cfg.show.name
        )
        self.chain = ShaderChain(self.window.ctx, w, h)
        self.clock = FrameClock(cfg.show.fps, offline=self.opt.offline)
        self.recorder = None
        if self.opt.record is not None:
            self.start_recording(self.opt.record)
        self.controls: list = []
        self._start_controls()

    # -- construction helpers -----------------------------------------------------------
    def _make_dreamer(self):
        from installation.dream import LiveDreamer
        from installation.dreamers import load_dreamer

        d = self.cfg.dream
        ckpt = self.cfg.model.checkpoint
        checkpoint = None if ckpt.startswith("random:") else str(self.cfg.resolve(ckpt))
        weights = str(self.cfg.resolve(d.weights)) if d.weights else None
        dreamer = load_dreamer(d.net, self.device, checkpoint=checkpoint, weights=weights, generator=self.G)
        return LiveDreamer(dreamer, d.layer, d.resolution, d.octaves, self.device, steps=d.steps_per_frame)

    def _start_controls(self) -> None:
        """OSC and audio inputs; each is optional and a failure to start one is a warning."""
        from installation.control.wiring import start_controls

        self.controls = start_controls(self)

    # -- actions (called from control threads: only enqueue) --------------------------------
    def post(self, name: str, *args) -> None:
        self.actions.put((name, args))

    def _drain_actions(self) -> None:
        while True:
            try:
                name, args = self.actions.get_nowait()
            except queue.Empty:
                return
            handler: Callable | None = getattr(self, f"_action_{name}", None)
            if handler is None:
                log.warning("unknown action %r", name)
                continue
            self._guard(f"action {name}", handler, *args)

    def _action_next_keyframe(self) -> None:
        self.trajectory.next_keyframe()

    def _action_previous_keyframe(self) -> None:
        self.trajectory.previous_keyframe()

    def _action_jump_to_seed(self, seed) -> None:
        self.trajectory.jump_to_seed(int(seed))

    def _action_toggle_dream(self) -> None:
        if self.dreamer is None:
            self.dreamer = self._make_dreamer()
            self.worker.dreamer = self.dreamer
        self.dream_on = not self.dream_on

    def _action_record_start(self, path=None) -> None:
        if self.recorder is None:
            self.start_recording(Path(path) if path else Path(f"recording-{time.strftime('%Y%m%d-%H%M%S')}.mp4"))

    def _action_record_stop(self) -> None:
        self.stop_recording()

    def _action_quit(self) -> None:
        self._stop_requested = True

    def request_stop(self) -> None:
        """Thread- and signal-safe: the loop ends after the current frame."""
        self._stop_requested = True

    # -- recording ------------------------------------------------------------------------
    def start_recording(self, path: Path) -> None:
        from installation.record import VideoRecorder

        cfg = self.cfg
        self.recorder = VideoRecorder(
            path,
            cfg.show.fps,
            (cfg.show.width, cfg.show.height),
            crf=cfg.record.crf,
            queue_size=cfg.record.queue,
            block=self.opt.offline,
            audio_path=self.opt.audio_file if self.opt.offline else None,
        )
        log.info("recording to %s", path)

    def stop_recording(self) -> Path | None:
        rec, self.recorder = self.recorder, None
        if rec is None:
            return None
        final = rec.close()
        self.stats.recorded += rec.frames_written
        self.stats.record_dropped += rec.frames_dropped
        self.stats.record_path = final
        log.info("recording finalised: %s (%d frames, %d dropped)", final, rec.frames_written, rec.frames_dropped)
        return final

    # -- the frame loop --------------------------------------------------------------------
    def _guard(self, what: str, fn: Callable, *args):
        """Run one step; an error is logged once per kind and the show goes on."""
        try:
            return fn(*args)
        except Exception as e:
            self.stats.frame_errors += 1
            key = f"{what}: {type(e).__name__}: {e}"
            if key not in self._error_seen:
                self._error_seen.add(key)
                log.exception("%s failed; the show goes on", what)
            return None

    def _content_request(self, p: dict[str, float], dt: float):
        self.trajectory.walk_step = p["latent.walk_step"]
        self.trajectory.advance(dt, p["latent.speed"])
        with torch.no_grad():
            w = self.trajectory.w(p["latent.truncation"])  # [1, num_ws, w_dim]
        return w

    def run(self, frames: int | None = None, seconds: float | None = None, on_frame: Callable | None = None) -> ShowStats:
        """Play until `frames` or `seconds` (display time), the window closes, or a stop is requested."""
        if frames is None and seconds is not None:
            frames = max(1, round(seconds * self.cfg.show.fps))
        offline = self.opt.offline
        if not offline:
            self.worker.start()
        bar = None
        if self.opt.progress and frames:
            from tqdm import tqdm

            bar = tqdm(total=frames, unit="frame", desc="render")
        newest_at = 0.0
        content_interval = 1.0 / self.cfg.show.fps
        last_reload = 0.0
        wall_start = time.perf_counter()
        try:
            k = 0
            while not self._stop_requested and (frames is None or k < frames):
                if self.window.should_close():
                    break
                t, dt = self.clock.tick()
                for key in self.window.poll():
                    self._guard("key", self.handle_key, key)
                self._drain_actions()
                for control in self.controls:
                    self._guard("control", control.update, t, dt)
                p = self.params.snapshot(dt)
                w = self._guard("latent", self._content_request, p, dt)
                if w is not None:
                    if offline:
                        frame = self._guard(
                            "content", self.worker.produce, _request(w, p, self.dream_on)
                        )
                    else:
                        self.worker.submit(w, p, self.dream_on)
                        frame = self.worker.take()
                    if frame is not None:
                        self.chain.push_content(frame.image)
                        self.stats.content_frames += 1
                        if not offline and newest_at > 0:
                            content_interval = 0.8 * content_interval + 0.2 * max(1e-3, t - newest_at)
                        newest_at = t
                mix = 1.0 if offline or not self.cfg.crossfade.enabled else min(1.0, (t - newest_at) / content_interval)
                tex = self._guard("render", self.chain.render, p, t, mix)
                if tex is not None:
                    self._guard("present", self.window.present, tex)
                if self.recorder is not None or on_frame is not None:
                    pixels = self._guard("read", self.window.read)
                    if pixels is not None:
                        if self.recorder is not None:
                            self.recorder.write(pixels)
                        if on_frame is not None:
                            on_frame(k, pixels)
                if not offline and t - last_reload > 0.5:
                    last_reload = t
                    for msg in self._guard("reload", self.chain.reload_if_changed) or []:
                        log.error("%s", msg)
                k += 1
                self.stats.frames = k
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
            self.stats.seconds = time.perf_counter() - wall_start
            self.stats.display_fps = list(getattr(self.clock, "fps_history", []))
        return self.stats

    def handle_key(self, key: str) -> None:
        if key == "escape":
            self._stop_requested = True
        elif key == "space":
            self.trajectory.next_keyframe()
        elif key == "backspace":
            self.trajectory.previous_keyframe()
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
        """For OSC status replies."""
        clock = self.clock.stats() if hasattr(self.clock, "stats") else {}
        return {
            "fps": float(clock.get("fps", 0.0)),
            "content_fps": float(self.worker.content_fps()),
            "scene": self.cfg.show.name,
            "recording": self.recorder is not None,
        }

    def close(self) -> ShowStats:
        """Stop everything; the recording is always finalised."""
        for control in self.controls:
            try:
                control.stop()
            except Exception:
                log.exception("stopping a control failed")
        self.worker.stop()
        try:
            self.stop_recording()
        finally:
            self.chain.release()
            self.window.close()
        return self.stats

    def __enter__(self) -> "Show":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _request(w, p, dream):
    from installation.content import ContentRequest

    return ContentRequest(w=w, params=p, dream=dream)

