"""`installation train-upscaler`: train the learned x4 upscaler on a dataset from `installation dataset`.

HR patches are random crops (with flips and 90-degree turns) of the dataset's images; LR is their 4x4 box
average (area downsampling, exact for an integer factor: clean and antialiased, like a generator frame,
not JPEG). MSE loss by default (L1 and Charbonnier on request: on star fields they aim at the median,
which dims sub-pixel stars, and did not beat bicubic in 1500 steps where MSE gained +0.3 dB), Adam with
cosine decay. The held-out split is by source image: the
dataset writes its crops source by source in name order, so its last `holdout` fraction of files comes
from photographs the training crops never saw. PSNR of the net and of plain bicubic on the held-out
crops (whole images, 4x downsampled and upscaled back) is printed and stored in the file, which is
written atomically every `save_every` steps and at the end.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from installation.device import pick_device
from installation.models.upscaler import UpscalerNet, count_params, psnr, save_upscaler
from installation.train.dataset import DatasetError, ImageDataset

SCALE = 4


class UpscalerTrainError(ValueError):
    """Bad data or options; the message names the folder or the option."""


@dataclass
class TrainUpscalerOptions:
    data: str
    out: str
    steps: int = 18000  # the defaults are the shipped deepsky-x4.pt run
    batch: int = 32
    patch: int = 64  # HR patch side (LR is patch / 4)
    channels: int = 16
    layers: int = 3
    lr: float = 2e-3
    loss: str = "mse"  # "mse" | "l1" | "charbonnier"
    holdout: float = 0.1  # the dataset's last files, i.e. other source photographs
    eval_every: int = 2000
    eval_images: int = 256  # held-out crops for the periodic PSNR (the final one uses all of them)
    save_every: int = 1000
    seed: int = 0
    threads: int | None = None
    device: str = "auto"
    progress: bool = True


def check_options(opts: TrainUpscalerOptions) -> None:
    checks = [
        (opts.steps >= 1, f"--steps {opts.steps}: expected at least 1"),
        (opts.batch >= 1, f"--batch {opts.batch}: expected at least 1"),
        (opts.patch >= 2 * SCALE and opts.patch % SCALE == 0,
         f"--patch {opts.patch}: expected a multiple of {SCALE}, at least {2 * SCALE}"),
        (opts.channels >= 1, f"--channels {opts.channels}: expected at least 1"),
        (opts.layers >= 0, f"--layers {opts.layers}: expected 0 or more"),
        (opts.lr > 0 and math.isfinite(opts.lr), f"--lr {opts.lr}: expected a positive number"),
        (opts.loss in LOSSES, f"--loss {opts.loss!r}: expected one of {', '.join(LOSSES)}"),
        (0 < opts.holdout < 1, f"--holdout {opts.holdout}: expected a fraction between 0 and 1"),
        (opts.threads is None or opts.threads >= 1, f"--threads {opts.threads}: expected at least 1"),
    ]
    for ok, message in checks:
        if not ok:
            raise UpscalerTrainError(message)


def load_split(data, holdout: float = 0.1, patch: int = 2 * SCALE, progress: bool = False):
    """(train, held-out) uint8 [N, 3, R, R]: the held-out images are the dataset's last files."""
    path = Path(data)
    if not path.exists():
        raise UpscalerTrainError(f"{path}: no such dataset folder (make one with `installation dataset`)")
    try:
        images = ImageDataset(path, progress=progress).images
    except DatasetError as e:
        raise UpscalerTrainError(str(e)) from None
    n, res = images.shape[0], images.shape[-1]
    if n < 2:
        raise UpscalerTrainError(f"{path}: {n} image(s); need at least 2 (some to train on, some held out)")
    if patch > res:
        raise UpscalerTrainError(f"--patch {patch}: larger than the dataset's {res} px images ({path})")
    if res % SCALE:
        raise UpscalerTrainError(f"{path}: {res} px images are not a multiple of {SCALE}")
    n_held = min(n - 1, max(1, round(n * holdout)))
    return images[: n - n_held], images[n - n_held:]


def downsample(hr: torch.Tensor) -> torch.Tensor:
    """[N, 3, H, W] -> [N, 3, H/4, W/4]: the 4x4 box average (area downsampling)."""
    return F.avg_pool2d(hr, SCALE)


def sample_patches(images: torch.Tensor, batch: int, patch: int, g: torch.Generator) -> torch.Tensor:
    """Random crops with a random flip and 90-degree turn, as float in [-1, 1]: [batch, 3, patch, patch]."""
    n, _, h, w = images.shape
    idx = torch.randint(n, (batch,), generator=g).tolist()
    ys = torch.randint(h - patch + 1, (batch,), generator=g).tolist()
    xs = torch.randint(w - patch + 1, (batch,), generator=g).tolist()
    turns = torch.randint(8, (batch,), generator=g).tolist()
    crops = []
    for i, y, x, t in zip(idx, ys, xs, turns):
        c = images[i, :, y:y + patch, x:x + patch]
        c = torch.rot90(c, t % 4, dims=(1, 2))
        crops.append(c.flip(2) if t >= 4 else c)
    return torch.stack(crops).float() / 127.5 - 1.0


def charbonnier(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    return torch.sqrt((a - b).square() + eps * eps).mean()


LOSSES = {"mse": F.mse_loss, "l1": F.l1_loss, "charbonnier": charbonnier}


@torch.no_grad()
def evaluate(net: UpscalerNet, held: torch.Tensor, device, limit: int | None = None, chunk: int = 64) -> dict:
    """Mean per-image PSNR (dB) of the net and of plain bicubic on whole held-out images, 4x down and up."""
    if limit is not None and limit < len(held):
        held = held[torch.linspace(0, len(held) - 1, limit).long()]  # spread over all held-out sources
    was_training = net.training
    net.eval()
    p_net, p_bic = [], []
    for i in range(0, len(held), chunk):
        hr = held[i:i + chunk].to(device).float() / 127.5 - 1.0
        lr = downsample(hr)
        p_net.append(psnr(net(lr), hr))
        p_bic.append(psnr(F.interpolate(lr, scale_factor=SCALE, mode="bicubic", align_corners=False), hr))
    net.train(was_training)
    net_db, bic_db = torch.cat(p_net).mean().item(), torch.cat(p_bic).mean().item()
    return {"psnr_net": round(net_db, 3), "psnr_bicubic": round(bic_db, 3), "gain_db": round(net_db - bic_db, 3),
            "heldout_images": len(held)}


def train_upscaler(opts: TrainUpscalerOptions, log: Callable[[str], None] = print) -> dict:
    """Train, write opts.out, and return the final held-out metrics."""
    from tqdm.auto import tqdm

    check_options(opts)
    if opts.threads:
        torch.set_num_threads(opts.threads)
    device = pick_device(opts.device)
    train_images, held = load_split(opts.data, opts.holdout, opts.patch, opts.progress)
    torch.manual_seed(opts.seed)
    g = torch.Generator().manual_seed(opts.seed)
    net = UpscalerNet(channels=opts.channels, layers=opts.layers, scale=SCALE).to(device).train()
    optim = torch.optim.Adam(net.parameters(), lr=opts.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(optim, opts.steps, eta_min=opts.lr * 0.01)
    log(f"{count_params(net)} parameters; {len(train_images)} training and {len(held)} held-out images "
        f"({opts.data}); LR = 4x4 box average of {opts.patch} px patches; device {device}")
    extra = {"data": str(opts.data), "downsample": "area (4x4 box average)", "patch": opts.patch,
             "batch": opts.batch, "lr": opts.lr, "seed": opts.seed, "loss": opts.loss}
    metrics: dict = {}
    start = time.monotonic()

    def save(step: int, metrics: dict) -> None:
        save_upscaler(opts.out, net, metrics=metrics,
                      extra=extra | {"steps": step, "train_seconds": round(time.monotonic() - start, 1)})

    bar = tqdm(range(1, opts.steps + 1), desc="train-upscaler", unit="step", disable=not opts.progress)
    for step in bar:
        hr = sample_patches(train_images, opts.batch, opts.patch, g).to(device)
        loss = LOSSES[opts.loss](net(downsample(hr)), hr)
        if not torch.isfinite(loss):
            raise UpscalerTrainError(f"loss became {loss.item()} at step {step}; try a lower --lr (now {opts.lr})")
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        sched.step()
        if step % 50 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")
        if step % opts.eval_every == 0 and step < opts.steps:
            metrics = evaluate(net, held, device, limit=opts.eval_images)
            bar.write(f"step {step}: held-out PSNR net {metrics['psnr_net']:.2f} dB, bicubic "
                      f"{metrics['psnr_bicubic']:.2f} dB ({metrics['gain_db']:+.2f}) on {metrics['heldout_images']}")
        if step % opts.save_every == 0 and step < opts.steps:
            save(step, metrics)
    bar.close()
    metrics = evaluate(net, held, device)
    save(opts.steps, metrics)
    log(f"held-out PSNR on {metrics['heldout_images']} crops: net {metrics['psnr_net']:.2f} dB, bicubic "
        f"{metrics['psnr_bicubic']:.2f} dB ({metrics['gain_db']:+.2f} dB); wrote {opts.out}")
    return metrics
