"""The upscaler's side-by-side picture (LR nearest / bicubic / learned / ground truth on held-out crops),
and what it does to a generator frame.

    python -m installation.train.upscaler_picture checkpoints/deepsky-x4.pt data/deepsky128 \\
        --out checkpoints/deepsky-x4-compare.png --gan checkpoints/hubble64.pt
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from installation.models.upscaler import load_upscaler, psnr
from installation.train.upscaler import SCALE, downsample, load_split

COLUMNS = ("LR (nearest)", "bicubic", "learned", "ground truth")
LABEL_HEIGHT = 14


def detailed_crops(held: torch.Tensor, count: int, candidates: int = 64) -> torch.Tensor:
    """`count` of `candidates` evenly spaced held-out crops with the most gradient energy (dark empty sky
    shows nothing). Chosen by detail, not by how well the net does on them."""
    pick = torch.linspace(0, len(held) - 1, min(candidates, len(held))).long()
    x = held[pick].float()
    energy = (x.diff(dim=-1).abs().mean(dim=(1, 2, 3)) + x.diff(dim=-2).abs().mean(dim=(1, 2, 3)))
    return held[pick[energy.argsort(descending=True)[:count].sort().values]]


def _u8(img: torch.Tensor) -> np.ndarray:
    """[3, H, W] in [-1, 1] -> [H, W, 3] uint8."""
    return ((img.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()


def comparison_rows(up, hr: torch.Tensor) -> tuple[list[list[np.ndarray]], list[tuple[float, float]]]:
    """Per crop: [nearest, bicubic, learned, truth] tiles, and (PSNR bicubic, PSNR learned) in dB."""
    hr = hr.float() / 127.5 - 1.0
    lr = downsample(hr)
    near = F.interpolate(lr, scale_factor=SCALE, mode="nearest")
    bic = F.interpolate(lr, scale_factor=SCALE, mode="bicubic", align_corners=False).clamp(-1, 1)
    net = up(lr).cpu()
    rows = [[_u8(t[i]) for t in (near, bic, net, hr)] for i in range(len(hr))]
    return rows, list(zip(psnr(bic, hr).tolist(), psnr(net, hr).tolist()))


def compose(rows: list[list[np.ndarray]], labels: list[list[str]], zoom: int = 1) -> Image.Image:
    """A grid of tiles, each magnified `zoom` x (nearest) with a caption above it."""
    th, tw = rows[0][0].shape[0] * zoom, rows[0][0].shape[1] * zoom
    sheet = Image.new("RGB", (len(rows[0]) * (tw + 4), len(rows) * (th + LABEL_HEIGHT + 4)), (40, 40, 40))
    draw = ImageDraw.Draw(sheet)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            x, y = c * (tw + 4), r * (th + LABEL_HEIGHT + 4)
            draw.text((x + 2, y + 1), labels[r][c], fill=(230, 230, 230))
            sheet.paste(Image.fromarray(tile).resize((tw, th), Image.NEAREST), (x, y + LABEL_HEIGHT))
    return sheet


def gan_frame_figures(up, checkpoint: str, seed: int = 0) -> dict:
    """One generator frame (seed, psi 1, const noise) upscaled x4: how far the net moves it from bicubic,
    and the high-frequency energy (mean |Laplacian|, [-1, 1] units) of bicubic, learned, and the frame."""
    from installation.generate import generate_images
    from installation.models.checkpoint import load_generator

    G = load_generator(checkpoint, "cpu")
    frame = torch.from_numpy(generate_images(G, [seed])[0]).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    bic = F.interpolate(frame, scale_factor=SCALE, mode="bicubic", align_corners=False).clamp(-1, 1)
    net = up(frame).cpu()
    lap = torch.tensor([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]).expand(3, 1, 3, 3)

    def hf(x):
        return F.conv2d(x, lap, groups=3).abs().mean().item()

    return {"frame_px": frame.shape[-1], "mean_abs_change": (net - bic).abs().mean().item(),
            "max_abs_change": (net - bic).abs().max().item(), "hf_bicubic": hf(bic), "hf_learned": hf(net),
            "psnr_learned_vs_bicubic": psnr(net, bic).item(), "frames": (frame, bic, net)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("upscaler")
    ap.add_argument("data")
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=4)
    ap.add_argument("--zoom", type=int, default=1, help="Magnify every tile this many times (nearest).")
    ap.add_argument("--gan", help="A generator checkpoint: also report what the net does to one of its frames.")
    args = ap.parse_args()
    torch.set_num_threads(1)
    up = load_upscaler(args.upscaler, "cpu", fast=False)
    _, held = load_split(args.data)
    rows, scores = comparison_rows(up, detailed_crops(held, args.count))
    labels = [[COLUMNS[0], f"bicubic {b:.2f} dB", f"learned {n:.2f} dB", COLUMNS[3]] for b, n in scores]
    compose(rows, labels, args.zoom).save(args.out)
    print(f"wrote {args.out}; per crop (bicubic, learned) dB: " + ", ".join(f"({b:.2f}, {n:.2f})" for b, n in scores))
    if args.gan:
        fig = gan_frame_figures(up, args.gan)
        frame, bic, net = fig.pop("frames")
        print({k: round(v, 4) if isinstance(v, float) else v for k, v in fig.items()})
        near = F.interpolate(frame, scale_factor=SCALE, mode="nearest")
        gan_out = args.out.replace(".png", "-gan.png")
        compose([[_u8(near[0]), _u8(bic[0]), _u8(net[0])]], [["frame (nearest)", "bicubic", "learned"]],
                args.zoom).save(gan_out)
        print(f"wrote {gan_out}")


if __name__ == "__main__":
    main()
