"""Pigment flow speed: ms per displayed frame at an output size, per render scale and projection setting, as JSON lines.

    .venv/bin/python benchmarks/pigment.py                       # 1280x720, scales 0.5 and 1
    .venv/bin/python benchmarks/pigment.py --scales 0.5 --project 0 10 20

What a frame costs here is what the live chain adds (ShaderChain with the pigment on): velocity
step on a 1/8 grid, the injection at the 1/4 fill size, the glow at 1/4 when bloom is on, one
dye + picture pass at the work size, then one bilinear upscale to the output size for
render_scale < 1; a new 64 px content frame is filled every `--content-every` frames.
ctx.finish() ends each frame so llvmpipe's threads are inside the timing. Median wall time,
and the process's CPU time a frame (llvmpipe's threads included): on a shared machine the
CPU time is the steadier figure. `--chain` times today's warp/feedback chain the same way.

Measured 2026-11-30, llvmpipe, 2 cores shared with a GAN training (load average 2.6-3.5),
1280x720, default parameters:
  before (8 draws: bloom pass, 5-tap bloom, 4-tap sheen, 3-point smear, sharpening, fill at
  1/2, every part paid for even when off): scale 0.5: 50-63 ms wall, 41 ms CPU;
  scale 1: 182-236 ms wall, 149 ms CPU.
Then, same day, training paused, old and new interleaved (two runs each), scale 0.5, CPU a frame:
  one dye pass with 9 taps + an output pass reading the dye's mipmaps, bicubic fill:
  28.4 / 28.9 ms (warp/feedback chain 17.4 / 17.2);
  now (dye + picture in one 4-tap pass, injection and smear at the fill size, glow from a
  quarter-size copy, bilinear fill where it does not magnify): 17.8 / 17.6 ms (chain 17.3 / 17.4).
Found on the way: llvmpipe runs both sides of a uniform `if`, so a part that is off must be
compiled out (#define variants), and a 640x360 pass with the tone in it costs ~4x a plain copy.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def time_chain(ctx, width, height, scale, frames, args) -> dict:
    """The reference: ShaderChain (warp + feedback + grade + upscale) timed like the pigment."""
    from installation.render.chain import ShaderChain, default_params

    chain = ShaderChain(ctx, width, height, render_scale=scale)
    params = default_params()
    times, cpu = [], []
    for i in range(args.warmup + args.frames):
        t0, c0 = time.perf_counter(), time.process_time()
        if i % args.content_every == 0:
            chain.push_content(frames[i % len(frames)])
        chain.render(params, i / 25, 0.5)
        ctx.finish()
        if i >= args.warmup:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    chain.release()
    return {"size": f"{width}x{height}", "render_scale": scale, "stage": "warp/feedback chain (reference)",
            "ms_per_frame": round(1000 * statistics.median(times), 2),
            "cpu_ms_per_frame": round(1000 * statistics.mean(cpu), 2), "load_average": round(os.getloadavg()[0], 2)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--scales", type=float, nargs="+", default=[0.5, 1.0])
    ap.add_argument("--project", type=int, nargs="+", default=[0], help="Jacobi iterations to try (0 = off)")
    ap.add_argument("--fill", default="tiles", choices=["tiles", "cover", "mirror"])
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--chain", action="store_true", help="also time today's warp/feedback chain, same sizes, same way")
    ap.add_argument("--set", action="append", default=[], help="PigmentParams field=value")
    ap.add_argument("--content-every", type=int, default=2, help="a new content frame every N frames (12/s at 25 fps ~ 2)")
    args = ap.parse_args(argv)

    from installation.render.passes import PresentPass, RenderTarget
    from installation.render.pigment import PigmentFlow, PigmentParams
    from installation.render.shaders import ShaderLibrary
    from installation.render.window import HeadlessWindow, write_image

    width, height = (int(v) for v in args.size.split("x"))
    window = HeadlessWindow(16, 16)
    ctx = window.ctx
    library = ShaderLibrary(ctx)
    rng = np.random.default_rng(0)
    content = ctx.texture((64, 64), 3)
    frames = [(rng.random((64, 64, 3)) ** 4 * 255).astype(np.uint8) for _ in range(4)]
    present = PresentPass(library)
    output = RenderTarget(ctx, (width, height), "f1")
    for scale in args.scales:
        work = (round(width * scale), round(height * scale))
        if args.chain:
            print(json.dumps(time_chain(ctx, width, height, scale, frames, args)), flush=True)
        for iterations in args.project:
            sets = {k: float(v) for k, v in (item.split("=") for item in args.set)}
            params = replace(PigmentParams(), project_iterations=iterations, **sets)
            flow = PigmentFlow(library, work, fill=args.fill)
            times, cpu = [], []
            for i in range(args.warmup + args.frames):
                t0, c0 = time.perf_counter(), time.process_time()
                if i % args.content_every == 0:
                    write_image(content, frames[i % len(frames)])
                    flow.push(content, params)
                if i % 15 == 0:
                    flow.impulse(0.4, 0.6, 0.3, 0.2)
                texture = flow.render(1 / 25, params, content_mix=0.5)
                if work != (width, height):
                    present.render(output.framebuffer, texture)
                ctx.finish()
                if i >= args.warmup:
                    times.append(time.perf_counter() - t0)
                    cpu.append(time.process_time() - c0)
            flow.release()
            print(json.dumps({"size": f"{width}x{height}", "render_scale": scale, "work": f"{work[0]}x{work[1]}",
                              "project_iterations": iterations, "fill": args.fill,
                              "ms_per_frame": round(1000 * statistics.median(times), 2),
                              "ms_p90": round(1000 * float(np.percentile(times, 90)), 2),
                              # CPU time of this process (llvmpipe's threads included): what a
                              # frame costs the 2 cores, whatever else is running
                              "cpu_ms_per_frame": round(1000 * statistics.mean(cpu), 2),
                              "load_average": round(os.getloadavg()[0], 2)}), flush=True)
    output.release()
    present.release()
    content.release()
    library.release()
    window.close()


if __name__ == "__main__":
    main()
