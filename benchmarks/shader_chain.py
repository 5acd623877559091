"""Headless frames per second of the full shader chain (not a test: numbers vary by machine).

A new 256x256 content frame is pushed every 2nd frame (like a generator at half the display
rate); every frame renders the whole chain with the show defaults (all passes active),
presents to the headless window and, with --read, reads the frame back (as recording does).

    .venv/bin/python benchmarks/shader_chain.py
    .venv/bin/python benchmarks/shader_chain.py --sizes 1280x720 --read --dtype f1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from installation.render import chain as chain_module
from installation.render.chain import ShaderChain, default_params
from installation.render.window import HeadlessWindow


def measure(width: int, height: int, frames: int, read: bool, work_dtype: str) -> dict:
    window = HeadlessWindow(width, height)
    chain = ShaderChain(window.ctx, width, height, work_dtype=work_dtype)
    rng = np.random.default_rng(0)
    contents = [rng.integers(0, 256, (256, 256, 3), dtype=np.uint8) for _ in range(4)]
    params = default_params()
    fps = 30.0

    def frame(i: int) -> None:
        if i % 2 == 0:
            chain.push_content(contents[(i // 2) % len(contents)])
        window.present(chain.render(params, i / fps, (i % 2 + 1) / 2))
        if read:
            window.read()

    for i in range(3):  # warm-up: shader JIT, first allocations
        frame(i)
    window.ctx.finish()
    start = time.perf_counter()
    for i in range(frames):
        frame(i)
    window.ctx.finish()
    seconds = time.perf_counter() - start
    renderer = window.ctx.info["GL_RENDERER"]
    chain.release()
    window.close()
    return {
        "size": f"{width}x{height}",
        "read_back": read,
        "work_dtype": work_dtype,
        "frames": frames,
        "fps": round(frames / seconds, 2),
        "ms_per_frame": round(1000 * seconds / frames, 2),
        "renderer": renderer,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", default=["1280x720", "1920x1080"], help="WIDTHxHEIGHT ...")
    parser.add_argument("--frames", type=int, default=30, help="timed frames per size")
    parser.add_argument("--read", action="store_true", help="also read every frame back (recording)")
    parser.add_argument("--dtype", nargs="+", default=[chain_module.WORK_DTYPE], choices=["f1", "f2"],
                        help="intermediate texture format(s): f1 = RGBA8, f2 = float16")
    args = parser.parse_args()
    results = []
    for size in args.sizes:
        width, height = (int(x) for x in size.lower().split("x"))
        for dtype in args.dtype:
            results.append(measure(width, height, args.frames, args.read, dtype))
    # The load average says how shared the CPU was (llvmpipe renders on the CPU).
    load = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps({"machine": platform.node(), "cpus": os.cpu_count(), "load_average": load, "results": results}, indent=2))


if __name__ == "__main__":
    main()
