"""The contact sheet in checkpoints/README.md: `installation dream` with the deep-sky dreamer, layer by
layer and two of its classes, beside the discriminator's dreams of the same images, plus each
cell's newly clipped pixels. Each cell is what
`installation dream IMAGE --net NET --layer L [--objective channel:N] --octaves 4 --iterations 10
--step 0.02 --jitter 16 --seed 0` writes (the same functions, called in one process).

    python checkpoints/deepsky-sheet.py WORKDIR [--dreamer checkpoints/deepsky-resnet.dreamer.pt]

WORKDIR gets the inputs (the Hubble XDF and coffee from scikit-image, seed 3 of hubble64.pt
magnified 3x), every dream, `deepsky-sheet.jpg` and `deepsky-sheet.json` (per cell: the share of
pixel channels at 0 or 255 that were not there before the dream).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this tree's package, not an installed one
SETTINGS = {"octaves": 4, "octave_scale": 1.4, "iterations": 10, "step": 0.02, "jitter": 16, "seed": 0}


def run(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "installation", *args], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def inputs(work: Path) -> dict[str, Path]:
    from skimage import data

    out = {}
    for name, img, width in (("Hubble XDF", data.hubble_deep_field(), 256), ("coffee", data.coffee(), 256)):
        im = Image.fromarray(img)
        im = im.resize((width, round(im.height * width / im.width)), Image.LANCZOS)
        out[name] = work / f"{name.split()[0].lower()}.png"
        im.save(out[name])
    run("generate", "checkpoints/hubble64.pt", "--seeds", "3", "--trunc", "0.8", "--outdir", str(work / "gan"),
        "--device", "cpu")
    out["GAN frame"] = work / "gan.png"
    Image.open(work / "gan" / "seed0003.png").resize((192, 192), Image.BICUBIC).save(out["GAN frame"])
    return out


def newly_clipped(before: np.ndarray, after: np.ndarray) -> float:
    new = ((after == 0) | (after == 255)) & ~((before == 0) | (before == 255))
    return float(new.mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("work", type=Path)
    ap.add_argument("--dreamer", default="checkpoints/deepsky-resnet.dreamer.pt")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    import torch

    from installation.dream import dream_image, load_image, tensor_to_uint8
    from installation.dreamers import load_dreamer

    torch.set_num_threads(1)
    nets = {"D": load_dreamer("discriminator", checkpoint=ROOT / "checkpoints" / "hubble64.pt"),
            "sky": load_dreamer(str(ROOT / args.dreamer) if not Path(args.dreamer).is_absolute() else args.dreamer)}
    classes = nets["sky"].classes
    columns = [("D", "b16", "l2"), ("D", "b32", "l2")] + [("sky", f"layer{k}", "l2") for k in (1, 2, 3, 4)]
    columns += [("sky", "fc", f"channel:{classes.index(c)}") for c in ("galaxy", "nebula")]
    rows, stats = [], {}
    for name, path in inputs(args.work).items():
        original = np.asarray(Image.open(path).convert("RGB"))
        cells = [("input", original)]
        for net, layer, objective in columns:
            label = f"{net} {layer}" + (f" {classes[int(objective.split(':')[1])]}" if objective != "l2" else "")
            dreamed = tensor_to_uint8(dream_image(load_image(path), nets[net], layer, objective, progress=False,
                                                  **SETTINGS))
            Image.fromarray(dreamed).save(args.work / f"{path.stem}-{label.replace(' ', '-')}.png")
            stats.setdefault(name, {})[label] = round(100 * newly_clipped(original, dreamed), 3)
            cells.append((label, dreamed))
        rows.append((name, cells))
    h = 176
    widths = [round(c[1].shape[1] * h / c[1].shape[0]) for c in rows[0][1]]
    col_w = max(max(round(c[1].shape[1] * h / c[1].shape[0]) for c in cells) for _, cells in rows)
    sheet = Image.new("RGB", (col_w * len(widths), (h + 18) * len(rows)), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for r, (name, cells) in enumerate(rows):
        for c, (label, img) in enumerate(cells):
            im = Image.fromarray(img)
            im = im.resize((round(im.width * h / im.height), h), Image.LANCZOS)
            x, y = c * col_w + (col_w - im.width) // 2, r * (h + 18) + 18
            sheet.paste(im, (x, y))
            draw.text((c * col_w + 4, r * (h + 18) + 3), f"{name}: {label}" if c == 0 else label, fill=(230, 230, 230))
    sheet.save(args.work / "deepsky-sheet.jpg", quality=88)
    (args.work / "deepsky-sheet.json").write_text(json.dumps({"newly_clipped_percent": stats}, indent=1))
    print(json.dumps({"newly_clipped_percent": stats}, indent=1))


if __name__ == "__main__":
    main()
