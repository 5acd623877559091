"""Learned upscaler speed: ms for one 128 -> 512 frame (median after warm-up), beside plain bicubic, as JSON lines.

    .venv/bin/python benchmarks/upscaler.py                                   # the shipped checkpoint
    .venv/bin/python benchmarks/upscaler.py --sizes 12x2,16x2,16x3,24x2        # candidate widths x depths

Each line: the net (channels, layers, params), ms of the fast path (traced, as the show runs it), the same
without the trace, the plain path, and torch's own bicubic (wall and CPU time, medians), with the 1-minute load average beside
them: on a shared machine wall times move with the load, so compare lines from the same run. Untrained weights for --sizes (the
speed does not depend on them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from installation.device import pick_device
from installation.models.upscaler import Upscaler, UpscalerNet, count_params, load_upscaler

SHIPPED = Path(__file__).resolve().parent.parent / "checkpoints" / "deepsky-x4.pt"


def median_ms(fn, x: torch.Tensor, runs: int, warmup: int = 5) -> tuple[float, float]:
    """(wall, CPU) ms, medians. CPU time leaves out the time other jobs held the core, so on a loaded
    machine it is the fairer 'one core' figure; wall time is what a frame waits."""
    sync = torch.cuda.synchronize if x.device.type == "cuda" else (lambda: None)
    with torch.no_grad():
        for _ in range(warmup):
            fn(x)
        sync()
        wall, cpu = [], []
        for _ in range(runs):
            t0, c0 = time.perf_counter(), time.process_time()
            fn(x)
            sync()
            wall.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    return round(1e3 * statistics.median(wall), 2), round(1e3 * statistics.median(cpu), 2)


def measure(up: Upscaler, x: torch.Tensor, runs: int) -> dict:
    plain = Upscaler(up.net, x.device, fast=False)
    fast = Upscaler(up.net, x.device, fast=True)  # traced: what the show runs
    eager = Upscaler(up.net, x.device, fast=True)._fast_forward  # the same ops without the trace
    kw = up.net.init_kwargs
    row = {"channels": kw["channels"], "layers": kw["layers"], "params": count_params(up.net)}
    paths = {"fast": fast, "fast_eager": eager, "plain": plain,
             "bicubic": lambda t: F.interpolate(t, scale_factor=4, mode="bicubic", align_corners=False)}
    for name, fn in paths.items():
        row[f"{name}_ms"], row[f"{name}_cpu_ms"] = median_ms(fn, x, runs)
    return row | {"loadavg_1min": round(os.getloadavg()[0], 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=str(SHIPPED), help="Upscaler file to time (default: the shipped one).")
    ap.add_argument("--sizes", help="Comma-separated CHANNELSxLAYERS candidates instead of a file, e.g. 16x2,24x2.")
    ap.add_argument("--res", type=int, default=128, help="Input side (output is 4x).")
    ap.add_argument("--runs", type=int, default=30, help="Timed runs per figure (median reported).")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads.")
    ap.add_argument("--device", default="cpu", help="'cpu', 'cuda' or 'auto'.")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    x = (torch.rand(1, 3, args.res, args.res, generator=torch.Generator().manual_seed(0)) * 2 - 1).to(device)
    if args.sizes:
        nets = [UpscalerNet(*map(int, s.split("x"))) for s in args.sizes.split(",")]
        ups = [Upscaler(n, device) for n in nets]
    else:
        ups = [load_upscaler(args.checkpoint, device)]
    for up in ups:
        row = {"res": f"{args.res}->{4 * args.res}", "threads": args.threads, "device": str(device)}
        print(json.dumps(row | measure(up, x, args.runs)), flush=True)


if __name__ == "__main__":
    main()
