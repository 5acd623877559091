"""Benchmark: milliseconds per DeepDream step, per dreamer and size; LiveDreamer frames per second.

    .venv/bin/python benchmarks/dream.py [--sizes 128,224,256] [--repeat 5] [--threads N] [--out FILE.json]

A dream step = forward to the layer + backward to the image + the normalised update
(`installation.dream.dream_step`). Dreamers: the shipped checkpoint's discriminator when
checkpoints/hubble64.pt exists, else an untrained stand-in of the training config's shape;
ResNet-18 and ResNet-50 (random weights: speed does not depend on them). The live figure is
`LiveDreamer.step` on a 256x256 uint8 frame (motion estimate, one step, composite).
Prints one JSON object; the numbers are for the machine it ran on (see "device", "threads").
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from installation.device import pick_device  # noqa: E402
from installation.dream import L2Objective, LiveDreamer, dream_step  # noqa: E402
from installation.dreamers import DiscriminatorDreamer, Dreamer, load_dreamer  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def discriminator_dreamer(device) -> tuple[Dreamer, str]:
    shipped = ROOT / "checkpoints" / "hubble64.pt"
    if shipped.is_file():
        return load_dreamer("discriminator", device, checkpoint=shipped), f"discriminator ({shipped.name})"
    from installation.models.stylegan2 import Discriminator

    torch.manual_seed(0)
    D = Discriminator(c_dim=0, img_resolution=64, img_channels=3, channel_base=8192, channel_max=256)
    return DiscriminatorDreamer(D).to(device), "discriminator (untrained stand-in, 64 px config)"


def time_steps(dreamer: Dreamer, layer: str, size: int, repeat: int, device) -> dict:
    x = torch.rand(1, 3, size, size, device=device) * 2 - 1
    objective = L2Objective()
    for _ in range(2):  # warm-up: allocator, kernels
        x = dream_step(x, dreamer, layer, objective, step=0.02, jitter=8)
    times = []
    for _ in range(repeat):
        _sync(device)
        t0 = time.perf_counter()
        x = dream_step(x, dreamer, layer, objective, step=0.02, jitter=8)
        _sync(device)
        times.append((time.perf_counter() - t0) * 1000)
    return {"median_ms": round(statistics.median(times), 2), "min_ms": round(min(times), 2)}


def time_live(dreamer: Dreamer, layer: str, resolution: int, frames: int, device) -> dict:
    live = LiveDreamer(dreamer, layer, resolution=resolution, octaves=3, device=device)
    yy, xx = np.mgrid[0:256, 0:256].astype(np.float32)
    params = {"dream.strength": 0.6, "dream.step": 0.03}
    seq = [((np.stack([np.sin(0.05 * xx + 0.1 * t), np.cos(0.04 * yy - 0.1 * t), np.sin(0.03 * (xx + yy))], -1)
             * 0.4 + 0.5) * 255).astype(np.uint8) for t in range(frames + 3)]
    for f in seq[:3]:
        live.step(f, params)
    _sync(device)
    t0 = time.perf_counter()
    for f in seq[3:]:
        live.step(f, params)
    _sync(device)
    ms = (time.perf_counter() - t0) * 1000 / frames
    return {"frame": "256x256", "resolution": resolution, "ms_per_frame": round(ms, 2), "updates_per_s": round(1000 / ms, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="128,224,256")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--live-frames", type=int, default=10)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    sizes = [int(s) for s in args.sizes.split(",")]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "random weights" is the point here
        dreamers = [discriminator_dreamer(device)]
        for spec in ("resnet18", "resnet50"):
            dreamers.append((load_dreamer(spec, device), spec))

    result = {
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "step_ms": {},
        "live": {},
    }
    for dreamer, label in dreamers:
        layer = dreamer.default_layer
        entry = {"layer": layer}
        for size in sizes:
            entry[str(size)] = time_steps(dreamer, layer, size, args.repeat, device)
            print(f"{label:50s} {layer:8s} {size:4d} px: {entry[str(size)]['median_ms']:8.1f} ms", file=sys.stderr)
        result["step_ms"][label] = entry
        result["live"][label] = time_live(dreamer, layer, 128, args.live_frames, device)
        print(f"{label:50s} live @128: {result['live'][label]['ms_per_frame']:.1f} ms/frame", file=sys.stderr)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
