"""`installation bench`: how real-time this machine runs the show, as one JSON object.

Measures, in one run and under the same load:
- generator ms/frame (the fast path the show uses, and the reference path) for the shipped
  model and two reference configs, with effective GFLOP/s against a plain 3x3-conv peak;
- dream ms/step (one LiveDreamer.step: motion, one gradient step, compositing) per dreamer
  and working size;
- headless display fps of the full shader chain at 1280x720 and 1920x1080;
- the live show (1280x720, dream and warps on): display fps p5 / median, content fps;
- OSC-to-screen latency: /installation/grade/exposure to -4 sent over UDP, timed to the
  first frame read back from the running show whose brightness shows it;
- offline render frames/s at 1920x1080 into an mp4.

Every field is always present: a part that fails gives null and a `<field>_error` line, so
a broken dreamer does not hide the display numbers. `--quick` runs each part briefly
(< 1 minute); the full run takes < 5 minutes. Timings are medians; the machine's load
average at start and end is recorded because the CPU may be shared.
"""

from __future__ import annotations

import datetime
import logging
import os
import platform
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

log = logging.getLogger(__name__)

DEFAULT_SHOW = Path(__file__).resolve().parents[1] / "show_configs" / "default.toml"
# The shipped deep-sky dreamer (checkpoints/README.md), timed by this name.
SKY_DREAMER = ("deepsky-resnet", Path(__file__).resolve().parents[1] / "checkpoints" / "deepsky-resnet.dreamer.pt")
DREAMERS = ("discriminator", "resnet18", "resnet50", SKY_DREAMER[0])


@dataclass
class BenchPlan:
    """What to measure and for how long; `quick()` and `full()` are the CLI's two plans,
    tests pass tiny ones."""

    # (name, resolution, channel_base, channel_max) of the reference generator configs
    generators: list[tuple[str, int, int, int]] = field(
        default_factory=lambda: [("128", 128, 4096, 256), ("256", 256, 8192, 256)]
    )
    generator_seconds: float = 2.0  # timed seconds per generator and path (at least 3 frames)
    conv_shape: tuple[int, int, int] = (128, 64, 64)  # channels, height, width of the peak conv
    dream_sizes: tuple[int, ...] = (64, 128, 224, 256)  # 64-128: what a live show dreams at
    dreamers: tuple[str, ...] = DREAMERS
    dream_steps: int = 3  # timed steps per dreamer and size (after one warm-up)
    display_sizes: dict[str, tuple[int, int]] = field(
        default_factory=lambda: {"720p": (1280, 720), "1080p": (1920, 1080)}
    )
    display_frames: int = 40
    show_size: tuple[int, int] = (1280, 720)
    show_seconds: float = 10.0
    osc_trials: int = 12
    osc_warmup: float = 1.5  # seconds before the first OSC message (first content frames)
    offline_size: tuple[int, int] = (1920, 1080)
    offline_frames: int = 45
    dream_resolution: int = 128  # the live show's dream working size

    @classmethod
    def quick(cls) -> "BenchPlan":
        return cls(generator_seconds=0.6, dream_steps=1, display_frames=10, show_seconds=4.0, osc_trials=4,
                   offline_frames=12)

    @classmethod
    def full(cls) -> "BenchPlan":
        return cls()


# --- helpers ----------------------------------------------------------------------------


def _median_ms(fn: Callable[[], object], min_seconds: float, min_runs: int = 3, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000.0 * statistics.median(times)


def _guarded(result: dict, fields: list[str], fn: Callable[[], dict]) -> None:
    """Run one part; on failure its fields become None and `<first field>_error` says why."""
    try:
        result.update(fn())
    except Exception as e:  # a bench reports, it does not stop at the first broken part
        log.exception("bench part %s failed", fields[0])
        for name in fields:
            result.setdefault(name, None)
        result[f"{fields[0]}_error"] = f"{type(e).__name__}: {e}"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def machine_info() -> dict:
    from installation.content import choose_torch_threads

    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": platform.node(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_version": torch.__version__,
        "torch_threads": choose_torch_threads(),
        "lp_num_threads": os.environ.get("LP_NUM_THREADS"),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# --- generator ---------------------------------------------------------------------------


def _reference_generator(res: int, channel_base: int, channel_max: int, device):
    from installation.models.checkpoint import STAND_IN_KWARGS
    from installation.models.stylegan2 import Generator

    kwargs = dict(STAND_IN_KWARGS, synthesis_kwargs=dict(channel_base=channel_base, channel_max=channel_max))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        G = Generator(img_resolution=res, **kwargs)
    return G.to(device).eval().requires_grad_(False)


def synthesis_gflop(G, ws: torch.Tensor) -> float:
    """GFLOP of one reference synthesis (2 x multiply-adds of convs and matmuls, FIR blurs included)."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        G.synthesis(ws, noise_mode="const")
    return counter.get_total_flops() / 1e9


def time_generator(G, device, seconds: float) -> dict:
    """ms/frame of the fast path (what the show runs) and of the reference path; GFLOP/s."""
    from installation.models.fast import FastSynthesis

    ws = G.mapping(torch.randn([1, G.z_dim], generator=torch.Generator().manual_seed(0)).to(device), None)
    fast = FastSynthesis(G.synthesis)

    def run(fn):
        def once():
            fn()
            _sync(device)

        with torch.inference_mode():
            return _median_ms(once, seconds)

    fast_ms = run(lambda: fast(ws, noise_mode="const"))
    reference_ms = run(lambda: G.synthesis(ws, noise_mode="const"))
    gflop = synthesis_gflop(G, ws)
    return {"ms": round(fast_ms, 2), "reference_ms": round(reference_ms, 2), "gflop": round(gflop, 3),
            "gflops": round(gflop / (fast_ms / 1000), 2)}


def conv_peak_gflops(shape: tuple[int, int, int], device, seconds: float) -> float:
    """GFLOP/s of one plain 3x3 conv (C -> C, channels_last as the fast path), same threads."""
    c, h, w = shape
    x = torch.randn(1, c, h, w, device=device).contiguous(memory_format=torch.channels_last)
    weight = torch.randn(c, c, 3, 3, device=device).contiguous(memory_format=torch.channels_last)

    def once():
        torch.nn.functional.conv2d(x, weight, padding=1)
        _sync(device)

    with torch.inference_mode():
        ms = _median_ms(once, seconds, warmup=2)
    return round(2.0 * c * c * 9 * h * w / 1e9 / (ms / 1000), 2)


def bench_generators(plan: BenchPlan, shipped_spec: str, device) -> dict:
    from installation.models.checkpoint import load_generator

    out: dict = {"conv_peak_gflops": conv_peak_gflops(plan.conv_shape, device, plan.generator_seconds)}
    runs = [(name, _reference_generator(res, base, cmax, device), f"{res} px, base {base}, max {cmax}")
            for name, res, base, cmax in plan.generators]
    runs.append(("shipped", load_generator(shipped_spec, device), shipped_spec))
    for name, G, what in runs:
        r = time_generator(G, device, plan.generator_seconds)
        out[f"generator_ms_{name}"] = r["ms"]
        out[f"generator_reference_ms_{name}"] = r["reference_ms"]
        out[f"generator_gflop_{name}"] = r["gflop"]
        out[f"generator_gflops_{name}"] = r["gflops"]
        out[f"generator_config_{name}"] = what
    for name in [g[0] for g in plan.generators] + ["shipped"]:
        out[f"generator_peak_fraction_{name}"] = round(out[f"generator_gflops_{name}"] / out["conv_peak_gflops"], 3)
    return out


# --- dream -------------------------------------------------------------------------------


def _make_dreamer(name: str, checkpoint: str | None, device):
    from installation.dreamers import DiscriminatorDreamer, load_dreamer

    if name == SKY_DREAMER[0]:
        return load_dreamer(str(SKY_DREAMER[1]), device), f"{SKY_DREAMER[1].name} (trained)"
    if name != "discriminator":
        import warnings

        with warnings.catch_warnings():  # random weights are fine for timing
            warnings.simplefilter("ignore")
            return load_dreamer(name, device), "random weights"
    if checkpoint and not checkpoint.startswith("random:"):
        try:
            return load_dreamer(name, device, checkpoint=checkpoint), checkpoint
        except ValueError:
            pass  # no discriminator in it: time the stand-in architecture instead
    from installation.models.checkpoint import STAND_IN_RESOLUTION
    from installation.models.stylegan2 import Discriminator

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        D = Discriminator(c_dim=0, img_resolution=STAND_IN_RESOLUTION, img_channels=3, channel_base=4096, channel_max=256)
    return DiscriminatorDreamer(D.to(device).eval()), f"stand-in D ({STAND_IN_RESOLUTION} px, base 4096, random weights)"


def bench_dream(plan: BenchPlan, checkpoint: str | None, device) -> dict:
    """ms per LiveDreamer.step at each working size (one gradient step, octave 0)."""
    from installation.dream import LiveDreamer

    table: dict = {}
    notes: dict = {}
    rng = np.random.default_rng(0)
    for name in plan.dreamers:
        try:
            dreamer, source = _make_dreamer(name, checkpoint, device)
        except Exception as e:
            table[name] = None
            notes[name] = f"{type(e).__name__}: {e}"
            continue
        notes[name] = f"layer {dreamer.default_layer}, {source}"
        table[name] = {}
        for px in plan.dream_sizes:
            live = LiveDreamer(dreamer, None, resolution=px, octaves=1, device=device)
            frames = [rng.integers(0, 256, (px, px, 3), dtype=np.uint8) for _ in range(2)]
            k = [0]

            def step():
                live.step(frames[k[0] % 2], None, None)
                k[0] += 1
                _sync(device)

            table[name][str(px)] = round(_median_ms(step, 0.0, min_runs=plan.dream_steps), 1)
    return {"dream_ms_step": table, "dream_notes": notes}


# --- display -----------------------------------------------------------------------------


def display_fps(size: tuple[int, int], frames: int, render_scale: float) -> float:
    """Headless full chain with the show defaults; a new 64 px content frame every 2nd frame;
    each frame is finished (like a swap) so the number is rendering, not queueing."""
    from installation.render.chain import ShaderChain, default_params
    from installation.render.window import HeadlessWindow

    window = HeadlessWindow(*size)
    try:
        chain = ShaderChain(window.ctx, *size, render_scale=render_scale)
        rng = np.random.default_rng(0)
        contents = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(4)]
        params = default_params()

        def frame(i):
            if i % 2 == 0:
                chain.push_content(contents[(i // 2) % len(contents)])
            window.present(chain.render(params, i / 30, (i % 2 + 1) / 2))
            window.ctx.finish()

        for i in range(3):
            frame(i)
        start = time.perf_counter()
        for i in range(frames):
            frame(i)
        seconds = time.perf_counter() - start
        chain.release()
        return round(frames / seconds, 2)
    finally:
        window.close()


def gl_renderer() -> str:
    from installation.render.window import HeadlessWindow

    window = HeadlessWindow(16, 16)
    try:
        return window.ctx.info["GL_RENDERER"]
    finally:
        window.close()


def bench_display(plan: BenchPlan, render_scale: float) -> dict:
    out = {}
    for name, size in plan.display_sizes.items():
        out[f"display_fps_{name}"] = display_fps(size, plan.display_frames, render_scale)
        if render_scale != 1.0:
            out[f"display_fps_{name}_scale1"] = display_fps(size, plan.display_frames, 1.0)
    return out


# --- the live show --------------------------------------------------------------------------


def _show_config(show_file: Path, size, overrides: list[str]):
    from installation.config import load_show

    return load_show(show_file, [f"show.width={size[0]}", f"show.height={size[1]}", *overrides])


def _open_live_show(show_file: Path, size, overrides: list[str]):
    """The show with dream on; if its dreamer cannot be built (e.g. a stand-in model has no
    discriminator), dream with resnet18 instead and say so."""
    from installation.show import Show, ShowOptions

    options = ShowOptions(headless=True, osc_port=0)
    attempts = [(["dream.enabled=true"], None),
                (["dream.enabled=true", "dream.net=resnet18", "dream.layer=layer2"], "resnet18 (layer2)")]
    errors = []
    for extra, fallback in attempts:
        try:
            cfg = _show_config(show_file, size, [*overrides, *extra])
            show = Show(cfg, options, show_path=show_file)
            note = f"{cfg.dream.net} ({cfg.dream.layer})" if fallback is None else fallback
            if errors:
                note += f"; the show file's dreamer failed: {errors[0]}"
            return show, note
        except Exception as e:
            errors.append(f"{type(e).__name__}: {e}")
    cfg = _show_config(show_file, size, [*overrides, "dream.enabled=false"])
    return Show(cfg, options, show_path=show_file), f"off (dream failed: {errors[-1]})"


def _stamp_presents(show) -> list[float]:
    """Record the time of every present (the moment a frame goes to the screen)."""
    stamps: list[float] = []
    present = show.window.present

    def stamped(texture):
        present(texture)
        stamps.append(time.perf_counter())

    show.window.present = stamped
    return stamps


def _run_for(show, seconds: float, on_frame=None) -> None:
    """Run a live show for `seconds` of wall time (show.run counts frames at the target fps,
    which a slow machine would stretch)."""
    timer = threading.Timer(seconds, show.request_stop)
    timer.daemon = True
    timer.start()
    try:
        show.run(on_frame=on_frame)
    finally:
        timer.cancel()


def _measure_after_first_content(show, seconds: float, timeout: float = 60.0) -> dict:
    """Start a thread that waits for the show's first content frame (tracing, dreamer set-up
    and shader compiles are warm-up, not the show's rate), then counts content frames for
    `seconds` and stops the show. Returns the dict it fills: start, seconds, made."""
    window: dict = {}

    def measure():
        give_up = time.perf_counter() + timeout
        while show.worker.frames_made < 1 and time.perf_counter() < give_up:
            time.sleep(0.01)
        made0, start = show.worker.frames_made, time.perf_counter()
        window["start"] = start
        time.sleep(seconds)
        window["made"] = show.worker.frames_made - made0
        window["seconds"] = time.perf_counter() - start
        show.request_stop()

    threading.Thread(target=measure, name="bench-live-show", daemon=True).start()
    return window


def bench_live_show(plan: BenchPlan, show_file: Path, overrides: list[str]) -> dict:
    show, dream_note = _open_live_show(show_file, plan.show_size, overrides)
    try:
        stamps = _stamp_presents(show)
        window = _measure_after_first_content(show, plan.show_seconds)
        show.run()
        seconds, made = window["seconds"], window["made"]
        stamps = [s for s in stamps if s >= window["start"]]
        warps = show.cfg.warp.swirl != 0 and show.cfg.warp.flow != 0
        render_scale = show.cfg.show.render_scale
        target_fps = show.cfg.show.fps
    finally:
        show.close()
    intervals = np.diff(np.array(stamps))  # only frames after the first content frame
    fps = 1.0 / intervals[intervals > 0]
    return {
        "show_display_fps_p5": round(float(np.percentile(fps, 5)), 2),
        "show_display_fps_median": round(float(np.median(fps)), 2),
        "show_content_fps": round(made / seconds, 2),
        "show_target_fps": target_fps,
        "show_dream": dream_note,
        "show_warps": warps,
        "show_render_scale": render_scale,
        "show_seconds": round(seconds, 1),
    }


def bench_osc_latency(plan: BenchPlan, show_file: Path, overrides: list[str]) -> dict:
    """Send /installation/grade/exposure -4 at random moments; latency = from the send to the
    present of the first frame (read back from the live show) whose mean brightness fell by
    a fifth. Then restore the exposure and wait for the picture to recover. The present's
    time stamp is used, so the bench's own read-back of each frame is not counted."""
    from pythonosc.udp_client import SimpleUDPClient

    show, _ = _open_live_show(show_file, plan.show_size, overrides)
    osc = next((c.server for c in show.controls if hasattr(c, "server")), None)
    if osc is None:
        show.close()
        raise RuntimeError("the show has no OSC server (osc.enabled = false?)")
    client = SimpleUDPClient("127.0.0.1", osc.port)
    base_exposure = show.cfg.grade.exposure
    lock = threading.Lock()
    state = {"sent_at": None, "baseline": None, "recent": [], "latencies": [], "done": False, "trial_start": None}
    rng = np.random.default_rng(1)

    presents = _stamp_presents(show)

    def on_frame(k, pixels):
        # The moment this frame went to the screen (not after the read-back the bench needs).
        now = presents[-1] if presents else time.perf_counter()
        level = float(pixels[::8, ::8].mean())  # a subsample: the exposure change is global
        with lock:
            sent = state["sent_at"]
            if sent is None:
                state["recent"] = (state["recent"] + [level])[-5:]
                return
            if now <= sent:  # presented before the message left: cannot show it yet
                return
            if state["baseline"] is None:
                state["baseline"] = float(np.median(state["recent"])) if state["recent"] else level
            if level < 0.8 * state["baseline"]:
                state["latencies"].append(1000.0 * (now - sent))
                state["sent_at"] = None
                state["baseline"] = None
                state["recent"] = []
                client.send_message("/installation/grade/exposure", float(base_exposure))
                state["trial_start"] = now
                if len(state["latencies"]) >= plan.osc_trials:
                    show.request_stop()
            elif now - sent > 2.0:  # missed (should not happen): restore and try again
                state["sent_at"] = None
                state["baseline"] = None
                client.send_message("/installation/grade/exposure", float(base_exposure))
                state["trial_start"] = now

    def sender():
        time.sleep(plan.osc_warmup)  # the show starts and the first content frames arrive
        while not state["done"]:
            time.sleep(0.05 + 0.3 * float(rng.random()))  # a random moment, not in step with frames
            with lock:
                recovered = state["trial_start"] is None or time.perf_counter() - state["trial_start"] > 1.0
                if state["sent_at"] is None and recovered and len(state["recent"]) >= 3:
                    state["sent_at"] = time.perf_counter()  # before the send: the show may be faster
                    client.send_message("/installation/grade/exposure", -4.0)

    thread = threading.Thread(target=sender, name="bench-osc-sender", daemon=True)
    thread.start()
    try:
        _run_for(show, plan.osc_warmup + 2.0 + 2.5 * plan.osc_trials, on_frame=on_frame)  # ends early when done
    finally:
        state["done"] = True
        show.close()
        thread.join(timeout=2)
    latencies = state["latencies"]
    if not latencies:
        raise RuntimeError("no OSC change was seen on screen")
    return {
        "osc_latency_ms_p50": round(float(np.percentile(latencies, 50)), 1),
        "osc_latency_ms_p95": round(float(np.percentile(latencies, 95)), 1),
        "osc_trials": len(latencies),
    }


def bench_offline(plan: BenchPlan, show_file: Path, overrides: list[str]) -> dict:
    from installation.show import Show, ShowOptions

    cfg = _show_config(show_file, plan.offline_size, overrides)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.mp4"
        show = Show(cfg, ShowOptions(headless=True, offline=True, record=path), show_path=show_file)
        try:
            start = time.perf_counter()
            stats = show.run(frames=plan.offline_frames)
            show.stop_recording()  # the encoder's tail counts too
            seconds = time.perf_counter() - start
        finally:
            show.close()
        size = path.stat().st_size if path.exists() else 0
    if stats.recorded < plan.offline_frames or size == 0:
        raise RuntimeError(f"offline render wrote {stats.recorded} of {plan.offline_frames} frames")
    return {
        "offline_1080p_fps": round(plan.offline_frames / seconds, 2),
        "offline_size": f"{plan.offline_size[0]}x{plan.offline_size[1]}",
        "offline_dream": bool(cfg.dream.enabled),
    }


# --- the whole bench --------------------------------------------------------------------------


def run_bench(
    plan: BenchPlan | None = None,
    *,
    checkpoint: str | None = None,
    show_file: str | Path | None = None,
    render_scale: float | None = None,
    progress: bool = False,
) -> dict:
    """Every measurement, as one dict (see the module doc). checkpoint: the model of the show
    and of 'generator_ms_shipped' (default: the show file's). render_scale: overrides the
    show file's show.render_scale for the display, live-show and offline parts."""
    from installation.config import load_show
    from installation.content import choose_torch_threads
    from installation.device import pick_device

    plan = plan or BenchPlan.full()
    show_path = Path(show_file) if show_file else DEFAULT_SHOW
    cfg = load_show(show_path)
    overrides: list[str] = []
    if checkpoint:
        overrides.append(f'model.checkpoint="{checkpoint}"')
    if render_scale is not None:
        overrides.append(f"show.render_scale={render_scale}")
    scale = render_scale if render_scale is not None else cfg.show.render_scale
    shipped = checkpoint or (cfg.model.checkpoint if cfg.model.checkpoint.startswith("random:")
                             else str(cfg.resolve(cfg.model.checkpoint)))
    device = pick_device(cfg.model.device)
    torch.set_num_threads(choose_torch_threads())  # what the show's content worker uses

    started = time.perf_counter()
    result: dict = machine_info()
    result.update({"device": str(device), "show_file": str(show_path), "shipped_model": shipped,
                   "render_scale": scale})
    parts: list[tuple[str, list[str], Callable[[], dict]]] = [
        ("GL renderer", ["gl_renderer"], lambda: {"gl_renderer": gl_renderer()}),
        ("generator", ["generator_ms_128", "generator_ms_256", "generator_ms_shipped", "conv_peak_gflops"],
         lambda: bench_generators(plan, shipped, device)),
        ("dream", ["dream_ms_step"], lambda: bench_dream(plan, checkpoint, device)),
        ("display", ["display_fps_720p", "display_fps_1080p"], lambda: bench_display(plan, scale)),
        ("live show", ["show_display_fps_p5", "show_display_fps_median", "show_content_fps"],
         lambda: bench_live_show(plan, show_path, overrides)),
        ("OSC latency", ["osc_latency_ms_p50", "osc_latency_ms_p95"],
         lambda: bench_osc_latency(plan, show_path, overrides)),
        ("offline", ["offline_1080p_fps"], lambda: bench_offline(plan, show_path, overrides)),
    ]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(parts), desc="bench", unit="part", leave=False)
    for what, fields, fn in parts:
        if bar is not None:
            bar.set_postfix_str(what)
        _guarded(result, fields, fn)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    result["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    result["bench_seconds"] = round(time.perf_counter() - started, 1)
    return result
