"""What a run leaves on disk besides checkpoints: sample grids, metrics.jsonl, losses.png."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image


def fixed_latents(seeds: list[int], z_dim: int) -> torch.Tensor:
    """z for each seed as NVlabs does it: numpy RandomState(seed).randn(z_dim). [len(seeds), z_dim]"""
    return torch.from_numpy(np.stack([np.random.RandomState(s).randn(z_dim) for s in seeds])).float()


@torch.no_grad()
def save_sample_grid(G, z: torch.Tensor, path: str | os.PathLike, cols: int | None = None,
                     batch: int = 32) -> None:
    """Images from G (noise const, psi 1) tiled into a PNG; written atomically."""
    device = next(G.parameters()).device
    imgs = []
    for i in range(0, z.shape[0], batch):
        img = G(z[i:i + batch].to(device), None, noise_mode="const")
        imgs.append((img * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())
    write_grid(np.concatenate(imgs), path, cols)


def write_grid(images: np.ndarray, path: str | os.PathLike, cols: int | None = None) -> None:
    """images [N, H, W, C] uint8 -> one PNG of cols x rows tiles."""
    n, h, w, c = images.shape
    cols = cols or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / cols))
    grid = np.zeros((rows * h, cols * w, c), dtype=np.uint8)
    for i, im in enumerate(images):
        r, q = divmod(i, cols)
        grid[r * h:(r + 1) * h, q * w:(q + 1) * w] = im
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.png")
    Image.fromarray(grid.squeeze(-1) if c == 1 else grid).save(tmp)
    os.replace(tmp, path)


def append_metrics(path: str | os.PathLike, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def read_metrics(path: str | os.PathLike) -> list[dict]:
    path = Path(path)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by a kill: skip it
                pass
    return out


def plot_losses(metrics_path: str | os.PathLike, out_path: str | os.PathLike) -> None:
    """losses.png: G and D loss, R1, p and r_t, SWD against kimg."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [r for r in read_metrics(metrics_path) if "kimg" in r]
    if not recs:
        return
    kimg = [r["kimg"] for r in recs]
    fig, axes = plt.subplots(3, 1, figsize=(8, 9), sharex=True)
    for key in ("loss_G", "loss_D", "r1"):
        axes[0].plot(kimg, [r.get(key, float("nan")) for r in recs], label=key)
    axes[0].set_ylabel("loss")
    axes[0].legend()
    axes[1].plot(kimg, [r.get("p", float("nan")) for r in recs], label="augment p")
    axes[1].plot(kimg, [r.get("rt", float("nan")) if r.get("rt") is not None else float("nan") for r in recs], label="r_t")
    axes[1].set_ylim(-1.05, 1.05)
    axes[1].legend()
    swd = [(r["kimg"], r["swd"]) for r in recs if r.get("swd") is not None]
    if swd:
        axes[2].plot(*zip(*swd), "o-", label="SWD x1e3 (G_ema vs real)")
        rr = [r["swd_real_real"] for r in recs if r.get("swd_real_real") is not None]
        if rr:
            axes[2].axhline(rr[-1], color="gray", ls="--", label="real vs real")
        axes[2].legend()
    axes[2].set_xlabel("kimg")
    fig.tight_layout()
    tmp = Path(out_path).with_name(Path(out_path).name + ".tmp.png")
    fig.savefig(tmp, dpi=80)
    plt.close(fig)
    os.replace(tmp, out_path)


def prune_snapshots(run_dir: str | os.PathLike, keep: int) -> None:
    """Keep the newest `keep` snapshot-*.pt and grid-*.png files; delete older ones."""
    run_dir = Path(run_dir)
    for pattern in ("snapshot-*.pt",):
        files = sorted(run_dir.glob(pattern), key=lambda p: int(re.findall(r"\d+", p.stem)[-1]))
        for old in files[:-keep] if keep > 0 else []:
            old.unlink(missing_ok=True)
