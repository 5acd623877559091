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
- offline render frames/s at 1920x1080 into an mp4, dream off.

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
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from installation.bench_plan import DREAMERS, SKY_DREAMER, BenchPlan  # noqa: F401 - BenchPlan: the CLI's and tests' name

log = logging.getLogger(__name__)

DEFAULT_SHOW = Path(__file__).resolve().parents[1] / "show_configs" / "default.toml"
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
    from installation.bench_show import bench_live_show, bench_offline, bench_osc_latency
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
