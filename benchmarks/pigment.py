"""Pigment flow speed: ms per displayed frame at an output size, per render scale and projection setting, as JSON lines.

    .venv/bin/python benchmarks/pigment.py                       # 1280x720, scales 0.5 and 1
    .venv/bin/python benchmarks/pigment.py --scales 0.5 --project 0 10 20

What a frame costs here is what the live chain would add: velocity step (+ projection), dye
advection + injection, bloom, output (sheen + bloom + tone) at the work size, then one
bilinear upscale to the output size (as ShaderChain does for render_scale < 1); a new 64 px
content frame is filled every `--content-every` frames. ctx.finish() ends each frame so the
GPU (or llvmpipe's threads) work is inside the timing. Median of the timed frames.

Measured 2026-11-30, llvmpipe, 2 shared cores, load average ~3.3 (other jobs):
1280x720 scale 0.5: 37.5 ms a frame (p90 49); with a 10-iteration projection 47.6 ms;
scale 1: 141 ms (149). At load 4-8: 98 and 291 ms. With diffusion, smear, sheen and bloom
off, scale 0.5: 35.5 ms. The live chain's warp/feedback/grade is ~12 ms, so the pigment
stage costs ~3x it: the projection does not pay for itself here (its target field is
divergence-free already; self_advect stays 0).
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
    ap.add_argument("--tone-at-output", action="store_true",
                    help="draw the output pass at the output size (it is then the upscale) instead of tone at the "
                         "work size + a plain bilinear upscale (what ShaderChain does; measured cheaper)")
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
            flow = PigmentFlow(library, work, output_size=(width, height) if args.tone_at_output else work, fill=args.fill)
            times, cpu = [], []
            for i in range(args.warmup + args.frames):
                t0, c0 = time.perf_counter(), time.process_time()
                if i % args.content_every == 0:
                    write_image(content, frames[i % len(frames)])
                    flow.push(content, params)
                if i % 15 == 0:
                    flow.impulse(0.4, 0.6, 0.3, 0.2)
                texture = flow.render(1 / 25, params, content_mix=0.5)
                if not args.tone_at_output and work != (width, height):
                    present.render(output.framebuffer, texture)
                ctx.finish()
                if i >= args.warmup:
                    times.append(time.perf_counter() - t0)
                    cpu.append(time.process_time() - c0)
            flow.release()
            print(json.dumps({"size": f"{width}x{height}", "render_scale": scale, "work": f"{work[0]}x{work[1]}",
                              "project_iterations": iterations, "fill": args.fill, "tone_at_output": args.tone_at_output,
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
