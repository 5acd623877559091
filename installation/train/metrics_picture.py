"""What a model's pictures carry: w_share (how much of the picture the latent decides rather than the
per-pixel noise) and colourfulness (Hasler and Suesstrunk), beside the SWD."""

from __future__ import annotations

import numpy as np
import torch

W_SHARE_SEEDS = 64


def colourfulness(images: torch.Tensor | np.ndarray) -> float:
    """Mean Hasler-Suesstrunk colourfulness of uint8 images ([N, 3, H, W] or [H, W, 3]), 0-255 scale:
    sqrt(std(rg)^2 + std(yb)^2) + 0.3 sqrt(mean(rg)^2 + mean(yb)^2), rg = R - G, yb = (R + G) / 2 - B."""
    x = torch.as_tensor(np.asarray(images)).double()
    if x.ndim == 3:  # one [H, W, 3] picture
        x = x.permute(2, 0, 1)[None]
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    rg = (r - g).flatten(1)
    yb = (0.5 * (r + g) - b).flatten(1)
    std = torch.sqrt(rg.var(1, unbiased=False) + yb.var(1, unbiased=False))
    mean = torch.sqrt(rg.mean(1) ** 2 + yb.mean(1) ** 2)
    return float((std + 0.3 * mean).mean())


@torch.no_grad()
def w_share(G, device, seeds: int = W_SHARE_SEEDS, batch: int = 16) -> float:
    """Per-pixel variance across seeds 0..seeds-1 (psi 1) with constant noise, over the same with
    random noise: near 1 when w decides the picture, near 0 when the noise does."""
    def variance(noise_mode: str) -> float:
        images = []
        torch.manual_seed(0)  # the random noise maps, reproducibly
        for start in range(0, seeds, batch):
            z = torch.stack([torch.from_numpy(np.random.RandomState(s).randn(G.z_dim)).float()
                             for s in range(start, min(start + batch, seeds))]).to(device)
            images.append(G(z, None, truncation_psi=1, noise_mode=noise_mode).float().cpu())
        return float(torch.cat(images).var(0).mean())

    random = variance("random")
    return variance("const") / random if random > 0 else 0.0
