"""Images from seeds: the NVlabs seed -> z convention, uint8 conversion, PNG files and a grid."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterable

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm


def parse_seeds(spec: str) -> list[int]:
    """"0-3,7,9" -> [0, 1, 2, 3, 7, 9]. ValueError naming the bad part."""
    seeds: list[int] = []
    for part in str(spec).replace(" ", "").split(","):
        if not part:
            raise ValueError(f"seed list {spec!r} has an empty item")
        try:
            if "-" in part[1:]:  # a range; a leading '-' alone would be a negative number
                lo, hi = part.split("-", 1)
                lo, hi = int(lo), int(hi)
                if hi < lo:
                    raise ValueError
                seeds.extend(range(lo, hi + 1))
            else:
                seeds.append(int(part))
        except ValueError:
            raise ValueError(f"bad seed {part!r} in {spec!r}: expected numbers and ranges like '0-15' or '0-3,7,9'") from None
    for s in seeds:
        if not 0 <= s < 2**32:
            raise ValueError(f"seed {s} in {spec!r} is outside 0 .. 2**32-1")
    return seeds


def seed_to_z(seed: int, z_dim: int) -> np.ndarray:
    """The NVlabs convention: RandomState(seed).randn(1, z_dim). [1, z_dim] float64"""
    return np.random.RandomState(seed).randn(1, z_dim)


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """[N, C, H, W] in about [-1, 1] -> [N, H, W, C] uint8 (NVlabs rounding: x * 127.5 + 128, clamped)."""
    x = (img.detach() * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


@torch.no_grad()
def generate_images(G, seeds: Iterable[int], truncation_psi: float = 1.0, noise_mode: str = "const",
                    device=None, truncation_cutoff: int | None = None) -> list[np.ndarray]:
    """One HWC uint8 image per seed, batch 1 each so every seed's image is independent of the others."""
    device = torch.device(device) if device is not None else next(G.parameters()).device
    G = G.to(device)
    images = []
    seeds = list(seeds)
    for seed in tqdm(seeds, desc="generate", unit="img", disable=len(seeds) < 4):
        z = torch.from_numpy(seed_to_z(seed, G.z_dim)).to(device=device, dtype=torch.float32)  # [1, z_dim]
        c = torch.zeros([1, G.c_dim], device=device) if G.c_dim else None
        img = G(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff, noise_mode=noise_mode)
        images.append(to_uint8(img)[0])
    return images


def save_image(image: np.ndarray, path) -> None:
    """HWC uint8 -> PNG (grayscale when there is one channel)."""
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)


def save_grid(images: list[np.ndarray], path, cols: int | None = None) -> None:
    """Tile equally sized HWC uint8 images row by row into one PNG; cols defaults to a near-square grid."""
    if not images:
        raise ValueError(f"{path}: no images to put in the grid")
    h, w, c = images[0].shape
    cols = cols or math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / cols)
    grid = np.zeros([rows * h, cols * w, c], dtype=np.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, cols)
        grid[r * h : (r + 1) * h, col * w : (col + 1) * w] = image
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_image(grid, path)
