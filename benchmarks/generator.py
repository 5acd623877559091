"""Generator speed: ms per frame (batch 1, no grad, const noise) and GMAC per image, as JSON lines.

    .venv/bin/python benchmarks/generator.py                 # 64/128/256 px, two channel widths
    .venv/bin/python benchmarks/generator.py --res 64 --channels-last both

Untrained weights (speed does not depend on them). On a shared machine the numbers are rough:
the median of several timed frames is reported. GMAC counts conv / conv-transpose / linear
multiply-adds (torch's FlopCounterMode, flops / 2), including the FIR blur convolutions.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from installation.device import pick_device
from installation.models.stylegan2 import Generator, SynthesisBlock

WIDTHS = [(4096, 256), (8192, 256)]


def build(res: int, channel_base: int, channel_max: int, device) -> Generator:
    torch.manual_seed(0)
    G = Generator(z_dim=256, c_dim=0, w_dim=256, img_resolution=res, img_channels=3,
                  mapping_kwargs=dict(num_layers=4),
                  synthesis_kwargs=dict(channel_base=channel_base, channel_max=channel_max))
    return G.to(device).eval().requires_grad_(False)


def use_channels_last(G: Generator) -> list:
    """Feed every synthesis block channels_last activations (the weights follow inside the conv)."""

    def to_channels_last(module, args, kwargs):
        x, img, ws = args
        if x is not None:
            x = x.contiguous(memory_format=torch.channels_last)
        return (x, img, ws), kwargs

    return [m.register_forward_pre_hook(to_channels_last, with_kwargs=True)
            for m in G.synthesis.modules() if isinstance(m, SynthesisBlock)]


def gmac_per_image(G: Generator, z: torch.Tensor) -> float:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        G(z, noise_mode="const")
    return counter.get_total_flops() / 2 / 1e9


def time_frames(G: Generator, z: torch.Tensor, min_frames: int, min_seconds: float) -> float:
    """Median ms per frame after two warm-up frames."""
    sync = torch.cuda.synchronize if z.device.type == "cuda" else (lambda: None)
    times = []
    with torch.no_grad():
        for _ in range(2):
            G(z, noise_mode="const")
        sync()
        start = time.perf_counter()
        while len(times) < min_frames or time.perf_counter() - start < min_seconds:
            t = time.perf_counter()
            G(z, noise_mode="const")
            sync()
            times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--res", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--channels-last", choices=["off", "on", "both"], default="off",
                        help="Memory format of the synthesis activations.")
    parser.add_argument("--frames", type=int, default=5, help="Timed frames at least.")
    parser.add_argument("--seconds", type=float, default=2.0, help="Timed seconds at least, per configuration.")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice).")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    device = pick_device(args.device)
    formats = {"off": [False], "on": [True], "both": [False, True]}[args.channels_last]
    for channel_base, channel_max in WIDTHS:
        for res in args.res:
            G = build(res, channel_base, channel_max, device)
            z = torch.randn([1, G.z_dim], generator=torch.Generator().manual_seed(0)).to(device)
            gmac = gmac_per_image(G, z)
            for channels_last in formats:
                hooks = use_channels_last(G) if channels_last else []
                ms = time_frames(G, z, args.frames, args.seconds)
                for h in hooks:
                    h.remove()
                print(json.dumps({
                    "res": res, "channel_base": channel_base, "channel_max": channel_max,
                    "params_M": round(sum(p.numel() for p in G.parameters()) / 1e6, 2),
                    "gmac_per_image": round(gmac, 3), "ms_per_frame": round(ms, 1),
                    "channels_last": channels_last, "device": str(device),
                    "threads": torch.get_num_threads(),
                }), flush=True)


if __name__ == "__main__":
    main()
