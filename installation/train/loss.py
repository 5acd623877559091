"""StyleGAN2 losses: non-saturating logistic, R1 on reals, path-length regularisation, style mixing.

Every D input (real and fake) goes through the augment pipe, as ADA prescribes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def run_G(G, z: torch.Tensor, style_mix_prob: float, generator: torch.Generator | None,
          update_emas: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """z [N, z_dim] -> (img [N, C, R, R], ws [N, num_ws, w_dim]), with style mixing at a random cutoff."""
    ws = G.mapping(z, None, update_emas=update_emas)
    if style_mix_prob > 0:
        dev = z.device
        cutoff = int(torch.randint(1, ws.shape[1], (), generator=generator))
        if float(torch.rand((), generator=generator)) >= style_mix_prob:
            cutoff = ws.shape[1]
        z2 = torch.randn(z.shape, generator=generator).to(dev)
        ws2 = G.mapping(z2, None, update_emas=False)
        ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
    img = G.synthesis(ws, noise_mode="random")
    return img, ws


def g_main_loss(G, D, augment, z, style_mix_prob, generator) -> torch.Tensor:
    """Non-saturating: softplus(-D(G(z)))."""
    img, _ = run_G(G, z, style_mix_prob, generator)
    logits = D(augment(img, generator))
    return F.softplus(-logits).mean()


def d_main_loss(G, D, augment, real, z, style_mix_prob, generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """softplus(D(fake)) + softplus(-D(real)); returns (loss, real logits, fake logits)."""
    with torch.no_grad():
        fake, _ = run_G(G, z, style_mix_prob, generator, update_emas=False)
    fake_logits = D(augment(fake, generator))
    real_logits = D(augment(real, generator))
    loss = F.softplus(fake_logits).mean() + F.softplus(-real_logits).mean()
    return loss, real_logits.detach(), fake_logits.detach()


def r1_penalty(D, augment, real, generator) -> torch.Tensor:
    """Mean squared gradient norm of D's logits w.r.t. the (un-augmented) real images: [N] -> scalar."""
    real = real.detach().requires_grad_(True)
    logits = D(augment(real, generator))
    (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
    return grad.square().sum(dim=[1, 2, 3]).mean()


def path_length_penalty(G, z, pl_mean: torch.Tensor, generator, pl_decay: float = 0.01,
                        batch_shrink: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """(penalty, new pl_mean): the Jacobian-vector norm |J^T y| for random image-space y should be constant."""
    n = max(z.shape[0] // batch_shrink, 1)
    img, ws = run_G(G, z[:n], 0.0, generator, update_emas=False)
    noise = torch.randn(img.shape, generator=generator).to(img.device) / np.sqrt(img.shape[2] * img.shape[3])
    (grad,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
    lengths = grad.square().sum(2).mean(1).sqrt()  # [n]
    new_mean = pl_mean.lerp(lengths.mean().detach(), pl_decay)
    return (lengths - new_mean).square().mean(), new_mean
