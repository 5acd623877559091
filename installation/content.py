"""The content worker: w -> generated (and optionally dreamed) frame, off the display thread.

The display loop posts the newest request and never waits; the worker always takes the
newest request and drops stale ones, and hands back the newest finished frame. Offline
renders call `produce()` directly, so every output frame has its own content frame.

Speed (issue 8, measured with `installation bench` on a shared 2-core CPU): the generator
runs through `FastSynthesis` (same pixels within 1e-3, see installation/models/fast.py)
under torch.inference_mode, and the worker uses ONE torch thread on machines with <= 2
cores: with 2 OpenMP threads next to Mesa's rasteriser and other processes, a frame took
~15x longer (threads spin-waiting for a descheduled partner), not 2x shorter.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from installation.live import Frame

log = logging.getLogger(__name__)
_thread_state = threading.local()  # the torch thread count set on each calling thread


def choose_torch_threads(cpus: int | None = None) -> int:
    """torch threads for the content worker when the show file says 0 ('choose').

    The display (GL, on a software rasteriser also the CPU) needs cores too: leave it half
    of them, and never more than 1 thread on a 2-core machine (see the module doc)."""
    cpus = cpus or os.cpu_count() or 1
    return 1 if cpus <= 2 else max(1, cpus // 2)


@dataclass
class ContentRequest:
    w: torch.Tensor  # [1, num_ws, w_dim]
    params: Frame  # the frame's live values; the dreamer takes params.dream
    dream: bool
    serial: int = 0
    noise: list[torch.Tensor] | None = None  # model.noise = "keyframe": [R, R] per noise layer, unit variance


@dataclass
class ContentFrame:
    image: np.ndarray  # uint8 [H, W, 3], row 0 = top
    serial: int
    seconds: float  # time the worker spent on it
    made_at: float = field(default_factory=time.perf_counter)


def to_uint8_image(img: torch.Tensor) -> np.ndarray:
    """[1, 3, H, W] in [-1, 1] -> uint8 [H, W, 3], converted as NVlabs does; NaN/Inf become 0."""
    img = torch.nan_to_num(img[0].float(), nan=0.0, posinf=1.0, neginf=-1.0)
    x = (img.permute(1, 2, 0) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return x.cpu().numpy()


# The worker thread's niceness above the display's. On a machine with fewer cores than
# busy threads the scheduler then serves the display loop first (smooth frames at the
# display rate) and the worker with what is left; with cores to spare it changes nothing.
WORKER_NICE = 5


def _lower_thread_priority(nice: int) -> None:
    """Raise the calling thread's niceness by `nice` (Linux: per-thread); ignored elsewhere."""
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
    except OSError as e:
        log.debug("could not lower the content worker's priority: %s", e)


def as_uint8(image) -> np.ndarray:
    """A frame for the display: uint8 as it is; a float frame (e.g. from a dreamer) clipped,
    with NaN/Inf as 0 / 255."""
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    image = np.nan_to_num(image.astype(np.float32), nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(image, 0, 255).astype(np.uint8)


class ContentWorker:
    """Runs generator (+ dreamer) on its own thread at its own rate; counts frames made, failures
    (each new message logged once), dropped requests and the recent content rate."""

    def __init__(self, generator, noise_mode: str, dreamer=None, threads: int = 0, fast: bool = True, nice: int = WORKER_NICE,
                 upscaler=None):
        self.frames_made = 0
        self.requests_dropped = 0
        self.errors = 0
        self._last_error: str | None = None
        self._durations: list[float] = []
        self.G = generator
        # Explicit maps ("keyframe") are written into the const-noise buffers, so the const path
        # (and its trace, which shares those buffers) draws them at no extra cost.
        self.noise_mode = "const" if noise_mode == "keyframe" else noise_mode
        self.dreamer = dreamer
        self.upscaler = upscaler  # show.upscale = "learned": [1, 3, R, R] -> [1, 3, 4R, 4R] before the dream
        self.threads = threads if threads > 0 else choose_torch_threads()
        self.nice = nice
        self.synthesis = self._fast_synthesis(generator) if fast else generator.synthesis
        self._traced: dict = {}  # (ws shape, dtype, device, noise mode) -> trace, or None if it failed
        self._cond = threading.Condition()
        self._request: ContentRequest | None = None
        self._result: ContentFrame | None = None
        self._stop = False
        self._thread: threading.Thread | None = None
        self._serial = 0
        self._made: list[int] = []  # serials of the frames made since the last take()

    def _count_frame(self, seconds: float) -> None:
        self.frames_made += 1
        self._durations.append(seconds)
        del self._durations[:-120]

    def _count_error(self, message: str) -> bool:
        """Count a failed frame; True when its message differs from the last one (log it)."""
        self.errors += 1
        new = message != self._last_error
        self._last_error = message
        return new

    def content_fps(self) -> float:
        recent = self._durations[-30:]
        return 0.0 if not recent else 1.0 / max(1e-6, float(np.mean(recent)))

    @staticmethod
    def _fast_synthesis(generator):
        """The fast path, or the reference synthesis if this network cannot have one."""
        from installation.models.fast import FastSynthesis

        try:
            return FastSynthesis(generator.synthesis)
        except Exception as e:  # an unusual (e.g. converted) network: slower, still correct
            log.warning("generator fast path unavailable (%s: %s); using the reference path", type(e).__name__, e)
            return generator.synthesis

    def _synthesize(self, w: torch.Tensor) -> torch.Tensor:
        """w [N, num_ws, w_dim] -> img; through a TorchScript trace of the fast path where it
        can be made (one GIL-free call; see models/fast.trace_synthesis), else eagerly."""
        from installation.models.fast import FastSynthesis, trace_synthesis

        if not isinstance(self.synthesis, FastSynthesis):
            return self.synthesis(w, noise_mode=self.noise_mode)
        key = (tuple(w.shape), w.dtype, w.device, self.noise_mode)
        traced = self._traced.get(key)
        if traced is None and key not in self._traced:
            try:
                traced = trace_synthesis(self.synthesis, w, self.noise_mode)
            except Exception as e:  # tracing is an optimisation: fall back to eager, once
                log.warning("generator trace failed (%s: %s); running it eagerly", type(e).__name__, e)
            self._traced[key] = traced
        if traced is None:
            return self.synthesis(w, noise_mode=self.noise_mode)
        return traced(w)

    def _write_noise(self, maps: list[torch.Tensor]) -> None:
        """This frame's noise maps into the const-noise buffers, in the layers' running order."""
        from installation.models.fast import FastSynthesis

        if isinstance(self.synthesis, FastSynthesis):
            layers = [layer for parts in self.synthesis.blocks for layer in parts.convs if layer.use_noise]
            for layer, m in zip(layers, maps, strict=True):
                layer.noise_const_g.copy_(m * (layer.noise_strength * layer.act_gain))
        else:
            from installation.models.stylegan2 import SynthesisLayer

            layers = [m for m in self.synthesis.modules() if isinstance(m, SynthesisLayer) and m.use_noise]
            for layer, m in zip(layers, maps, strict=True):
                layer.noise_const.copy_(m)

    # -- the work itself, shared by the thread and offline renders ------------------------
    def produce(self, req: ContentRequest) -> ContentFrame:
        start = time.perf_counter()
        if getattr(_thread_state, "threads", None) != self.threads:  # offline renders call from the main thread
            torch.set_num_threads(self.threads)
            _thread_state.threads = self.threads
        with torch.inference_mode():
            if req.noise is not None:
                self._write_noise(req.noise)
            img = self._synthesize(req.w)  # [1, 3, R, R]
            if self.upscaler is not None:
                img = self.upscaler(img)  # [1, 3, 4R, 4R]
            image = to_uint8_image(img)
        if req.dream and self.dreamer is not None:  # the dream needs autograd: outside inference_mode
            with torch.enable_grad():
                image = self.dreamer.step(image, req.params.dream, None)
        return ContentFrame(image=image, serial=req.serial, seconds=time.perf_counter() - start)

    # -- threaded use ---------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="content-worker", daemon=True)
        self._thread.start()

    def submit(self, w: torch.Tensor, params: Frame, dream: bool, noise: list[torch.Tensor] | None = None) -> int:
        """Post the newest request; an unconsumed older one is dropped. Returns its serial."""
        with self._cond:
            if self._request is not None:
                self.requests_dropped += 1
            self._serial += 1
            self._request = ContentRequest(w=w, params=params, dream=dream, serial=self._serial, noise=noise)
            self._cond.notify()
            return self._serial

    def take(self, made: list[int] | None = None) -> ContentFrame | None:
        """The newest finished frame since the last call, or None. `made` gets the serials of
        every frame finished since then, in order (the returned one last): a performance log
        needs the ones never shown too, since a live dreamer carries state from frame to frame."""
        with self._cond:
            result, self._result = self._result, None
            if made is not None:
                made.extend(self._made)
            self._made.clear()
            return result

    def _run(self) -> None:
        _lower_thread_priority(self.nice)
        while True:
            with self._cond:
                while self._request is None and not self._stop:
                    self._cond.wait(0.5)
                if self._stop:
                    return
                req, self._request = self._request, None
            try:
                frame = self.produce(req)
            except Exception as e:  # a bad frame must not stop the show: log once, keep the last one
                if self._count_error(f"{type(e).__name__}: {e}"):
                    log.exception("content worker: frame failed (the last good frame stays up)")
                continue
            with self._cond:
                self._result = frame
                self._made.append(frame.serial)
                self._count_frame(frame.seconds)

    @property
    def alive(self) -> bool:
        """The worker thread is running (False before start() and after it died or stopped)."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to end; wait up to `timeout` seconds (0: don't wait, e.g. a stuck one)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None and timeout > 0:
            self._thread.join(timeout=timeout)


LIVE_SWITCH_INTERVAL = 0.001  # seconds; see live_display_thread


def live_display_thread(live: bool):
    """Set up the display thread for a live loop; returns what puts the settings back."""
    switch_interval, torch_threads = sys.getswitchinterval(), torch.get_num_threads()
    if live:
        # Every torch op of the frame releases the GIL; a busy thread (an OSC flood) would then
        # keep it for a whole switch interval (5 ms) each time. A short one bounds that wait.
        sys.setswitchinterval(min(switch_interval, LIVE_SWITCH_INTERVAL))
        # The display thread's torch work (the mapping network, slerp_z) is tiny; a team of
        # OpenMP threads for it spins and starves the (lower-priority) content worker: measured
        # 14 vs 169 content frames in 6 s of default.toml at 160x90 on 2 cores. (Per thread.)
        torch.set_num_threads(1)

    def restore() -> None:
        sys.setswitchinterval(switch_interval)
        if live:
            torch.set_num_threads(torch_threads)

    return restore


class ContentTiming:
    """When content frames arrive, and how far the display has crossfaded to the newest one.

    Live (and replaying a live performance) the display crossfades from the previous content
    frame to the newest over the recent interval between arrivals, so a 10 fps generator still
    looks smooth at 60 fps. Offline every output frame has its own content frame: mix 1."""

    def __init__(self, fps: float, live: bool):
        self.live = live
        self.newest_at = 0.0  # show time of the newest arrival
        self.interval = 1.0 / fps  # the recent interval between arrivals (live)

    def arrived(self, t: float) -> None:
        if self.live and self.newest_at > 0:
            self.interval = 0.8 * self.interval + 0.2 * max(1e-3, t - self.newest_at)
        self.newest_at = t

    def mix(self, t: float, crossfade: bool) -> float:
        return 1.0 if not self.live or not crossfade else min(1.0, (t - self.newest_at) / self.interval)


def make_live_dreamer(device, net: str, checkpoint: str | None, weights: str | None, layer: str | None,
                      resolution: int, octaves: int, steps_per_frame: int):
    """The live dreamer a show dreams with."""
    from installation.dream import LiveDreamer
    from installation.dreamers import load_dreamer

    dreamer = load_dreamer(net, device, checkpoint=checkpoint, weights=weights)
    return LiveDreamer(dreamer, layer, resolution, octaves, device, steps_per_frame=steps_per_frame)


def dreamer_for_show(cfg, device):
    """The live dreamer a show file's [dream] section asks for (paths relative to the show)."""
    from installation.dreamers import RESNET_SPECS

    d, ckpt = cfg.dream, cfg.model.checkpoint
    if d.net == "discriminator" and ckpt.startswith("random:"):
        raise ValueError(f"dream.net 'discriminator': the stand-in model.checkpoint {ckpt!r} has no discriminator; "
                         "use a trained checkpoint or dream.net = 'resnet18'")
    return make_live_dreamer(
        device, net=d.net if d.net == "discriminator" or d.net in RESNET_SPECS else str(cfg.resolve(d.net)),
        checkpoint=None if ckpt.startswith("random:") else str(cfg.resolve(ckpt)),
        weights=str(cfg.resolve(d.weights)) if d.weights else None, layer=d.layer,
        resolution=d.resolution, octaves=d.octaves, steps_per_frame=d.steps_per_frame)
