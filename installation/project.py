"""Projection: find the w whose image reproduces a photo (the seed's img2img hallucination).

As the StyleGAN2 projector (Karras et al. 2020, appendix D): start from w_avg, add decaying noise to w
early on, optimise w and the per-layer noise maps with Adam under a ramped learning rate, and keep the
noise maps white with a multi-scale autocorrelation penalty (re-normalised after each step). Instead of
LPIPS (a downloaded VGG) the loss is a multi-scale pixel loss plus, when the checkpoint has one, a
distance between discriminator features ("what D looks at").
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

W_AVG_SAMPLES = 10000
NOISE_REG_WEIGHT = 1e5
INITIAL_NOISE_FACTOR = 0.05
NOISE_RAMP = 0.75
LR_RAMPDOWN = 0.25
LR_RAMPUP = 0.05
D_FEATURE_WEIGHT = 0.1


class ProjectionError(ValueError):
    """Bad input to the projector; the message names the file."""


def pixel_pyramid_loss(x: torch.Tensor, y: torch.Tensor, min_res: int = 8) -> torch.Tensor:
    """L1 + L2 at every scale of an average-pool pyramid down to min_res; x, y [N, C, R, R]."""
    total = x.new_zeros([])
    levels = 0
    while True:
        d = x - y
        total = total + d.abs().mean() + d.square().mean()
        levels += 1
        if x.shape[-1] <= min_res:
            break
        x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
    return total / levels


def d_feature_loss(D, x: torch.Tensor, target_feats: dict) -> torch.Tensor:
    """Mean over D's blocks of the squared feature distance, normalised by the target's energy."""
    feats = D.features(x)
    total = x.new_zeros([])
    for name, t in target_feats.items():
        total = total + (feats[name].float() - t).square().mean() / (t.square().mean() + 1e-8)
    return total / max(len(target_feats), 1)


def noise_regularisation(noise_bufs: list[torch.Tensor]) -> torch.Tensor:
    """Squared autocorrelation at 1-pixel shifts, at every scale down to 8x8 (keeps noise maps white)."""
    reg = noise_bufs[0].new_zeros([])
    for buf in noise_bufs:
        noise = buf[None, None]  # [1, 1, H, W]
        while True:
            reg = reg + (noise * torch.roll(noise, shifts=1, dims=3)).mean() ** 2
            reg = reg + (noise * torch.roll(noise, shifts=1, dims=2)).mean() ** 2
            if noise.shape[2] <= 8:
                break
            noise = F.avg_pool2d(noise, kernel_size=2)
    return reg


@torch.no_grad()
def _w_stats(G, device, seed: int) -> tuple[torch.Tensor, float]:
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(W_AVG_SAMPLES, G.z_dim, generator=gen).to(device)
    w = G.mapping(z, None)[:, :1, :]                       # [S, 1, w_dim]
    w_avg = w.mean(0, keepdim=True)                         # [1, 1, w_dim]
    w_std = float(((w - w_avg).square().sum() / W_AVG_SAMPLES) ** 0.5)
    return w_avg, w_std


def project(G, target: torch.Tensor, D=None, steps: int = 500, lr: float = 0.1, seed: int = 0,
            w_plus: bool = False, progress: bool = True) -> dict:
    """target [1, C, R, R] in [-1, 1] -> {"w": [num_ws, w_dim], "image": [1, C, R, R], "losses": [...]}."""
    from tqdm import tqdm

    device = target.device
    G = copy.deepcopy(G).eval().requires_grad_(False).to(device)
    if D is not None:
        D = copy.deepcopy(D).eval().requires_grad_(False).to(device)
    w_avg, w_std = _w_stats(G, device, seed)
    w_opt = (w_avg.repeat(1, G.num_ws, 1) if w_plus else w_avg.clone()).requires_grad_(True)

    noise_bufs = [buf for name, buf in G.synthesis.named_buffers() if name.endswith("noise_const")]
    gen = torch.Generator().manual_seed(seed)
    for buf in noise_bufs:
        buf.copy_(torch.randn(buf.shape, generator=gen).to(device))
        buf.requires_grad_(True)
    optimizer = torch.optim.Adam([w_opt] + noise_bufs, betas=(0.9, 0.999), lr=lr)

    with torch.no_grad():
        target_feats = {k: v.float() for k, v in D.features(target).items()} if D is not None else None

    losses = []
    for step in tqdm(range(steps), desc="project", disable=not progress):
        t = step / max(steps, 1)
        w_noise_scale = w_std * INITIAL_NOISE_FACTOR * max(0.0, 1.0 - t / NOISE_RAMP) ** 2
        lr_ramp = min(1.0, (1.0 - t) / LR_RAMPDOWN)
        lr_ramp = (0.5 - 0.5 * math.cos(lr_ramp * math.pi)) * min(1.0, t / LR_RAMPUP)
        for group in optimizer.param_groups:
            group["lr"] = lr * lr_ramp

        w_noise = torch.randn(w_opt.shape, generator=gen).to(device) * w_noise_scale
        ws = (w_opt + w_noise).expand(1, G.num_ws, -1) if not w_plus else w_opt + w_noise  # [1, num_ws, w_dim]
        synth = G.synthesis(ws, noise_mode="const")
        loss = pixel_pyramid_loss(synth, target)
        if target_feats is not None:
            loss = loss + D_FEATURE_WEIGHT * d_feature_loss(D, synth, target_feats)
        reg = noise_regularisation(noise_bufs)
        optimizer.zero_grad(set_to_none=True)
        (loss + NOISE_REG_WEIGHT * reg).backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        with torch.no_grad():  # keep the noise maps zero-mean, unit-variance
            for buf in noise_bufs:
                buf -= buf.mean()
                buf *= buf.square().mean().rsqrt()

    with torch.no_grad():
        ws = w_opt.expand(1, G.num_ws, -1) if not w_plus else w_opt
        image = G.synthesis(ws, noise_mode="const")
        final = pixel_pyramid_loss(image, target)
        if target_feats is not None:
            final = final + D_FEATURE_WEIGHT * d_feature_loss(D, image, target_feats)
    return {"w": ws[0].detach().cpu(), "image": image.detach(), "losses": losses, "final_loss": float(final),
            "noise": [b.detach().cpu() for b in noise_bufs]}


def load_target(path: str | Path, resolution: int, device) -> torch.Tensor:
    """A photo as [1, 3, R, R] in [-1, 1], centre-cropped and resized."""
    from installation.train.dataset import center_crop_resize, decode_rgb

    path = Path(path)
    try:
        im = decode_rgb(path.read_bytes())
    except Exception as e:
        raise ProjectionError(f"{path}: cannot read the image ({type(e).__name__}: {e})") from None
    arr = np.asarray(center_crop_resize(im, resolution), dtype=np.float32)
    return (torch.from_numpy(arr).permute(2, 0, 1)[None] / 127.5 - 1.0).to(device)


def project_file(image: str | Path, checkpoint: str, out: str | Path, steps: int = 500, lr: float = 0.1,
                 device_name: str = "auto", seed: int = 0, progress: bool = True) -> dict:
    """The `installation project` command: saves OUT (.npy w [num_ws, w_dim]) and OUT's .png side by side."""
    from PIL import Image

    from installation.device import pick_device
    from installation.models.checkpoint import CheckpointError, load_discriminator, load_generator

    device = pick_device(device_name)
    try:
        G = load_generator(checkpoint, device)
        D = load_discriminator(checkpoint, device)
    except CheckpointError as e:
        raise ProjectionError(str(e)) from None
    target = load_target(image, G.img_resolution, device)
    result = project(G, target, D=D, steps=steps, lr=lr, seed=seed, progress=progress)
    out = Path(out)
    if out.suffix != ".npy":
        out = out.with_suffix(".npy")
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, result["w"].numpy().astype(np.float32))
    pair = torch.cat([target, result["image"]], dim=3)  # [1, 3, R, 2R]: target | reconstruction
    png = out.with_suffix(".png")
    Image.fromarray((pair[0] * 127.5 + 128).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).cpu().numpy()).save(png)
    return {"w_path": str(out), "png_path": str(png), "first_loss": result["losses"][0] if result["losses"] else
            result["final_loss"], "final_loss": result["final_loss"], "used_discriminator": D is not None}
