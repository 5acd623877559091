"""`installation train-dreamer`: a ResNet classifier on a folder-per-class dataset, to dream with.

DATA/<class name>/*.png|jpg|... -> a stratified train/validation split (by source image when
DATA/groups.json names each image's source, so no crop of a training image is validated on;
`installation dataset --deep-sky --by-type` writes one), optional colour
jitter, from scratch or from local torchvision weights (the fc layer is replaced when the
class count differs), AdamW with cosine or step learning-rate decay, validation accuracy
per epoch (a tqdm bar per epoch plus a printed table; at the end, accuracy per class by image
and by source against chance), and the best epoch kept: it is
written (atomically) as a dreamer file every time validation accuracy improves, so
`installation dream --net FILE` dreams with what it learned of these classes.

Images are decoded once into memory at `res` x `res` (shorter side resized, centre crop):
dreamer datasets are small; this keeps epochs fast on a CPU.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from installation.dreamers import IMAGENET_MEAN, IMAGENET_STD, _state_dict_of, _torch_load, save_dreamer_file
from installation.models.resnet import ResNet, infer_resnet_kwargs

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


class DreamerTrainError(ValueError):
    """Bad data or options; the message names the folder, file or option."""


@dataclass
class TrainDreamerOptions:
    data: str
    out: str
    depth: int = 18
    epochs: int = 10
    batch: int = 32
    lr: float = 1e-3
    res: int = 64
    val_split: float = 0.2
    color_jitter: bool = True
    weights: str | None = None  # local torchvision .pth (or a dreamer file) to start from
    seed: int = 0
    width: int = 64  # channels of the stem; 64 is torchvision's (needed to load its weights)
    schedule: str = "cosine"  # "cosine" | "step" (x0.1 at 1/2 and 3/4 of the epochs)
    weight_decay: float = 1e-4
    device: str = "auto"
    progress: bool = True


# --- data ----------------------------------------------------------------------------------


def _load_square(path: Path, res: int) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("RGB")
        s = res / min(im.size)
        im = im.resize((max(res, round(im.width * s)), max(res, round(im.height * s))), Image.BICUBIC)
        left, top = (im.width - res) // 2, (im.height - res) // 2
        return np.asarray(im.crop((left, top, left + res, top + res)), dtype=np.uint8)


def load_class_folders(root: str | Path, res: int, progress: bool = True, with_names: bool = False):
    """DATA/<class>/<images> -> (images uint8 [N, 3, res, res], labels int64 [N], class names
    [, file names relative to DATA, as 'class/file.png'])."""
    from tqdm.auto import tqdm

    root = Path(root)
    if not root.is_dir():
        raise DreamerTrainError(f"{root}: not a folder (expected one sub-folder of images per class)")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(classes) < 2:
        raise DreamerTrainError(f"{root}: found {len(classes)} class folder(s); need at least 2 (DATA/<class>/<images>)")
    files: list[tuple[Path, int]] = []
    for label, name in enumerate(classes):
        found = sorted(p for p in (root / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise DreamerTrainError(f"{root / name}: class folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
        files += [(p, label) for p in found]
    images, labels = [], []
    for path, label in tqdm(files, desc="load images", unit="img", disable=not progress, leave=False):
        try:
            images.append(_load_square(path, res))
        except Exception as e:  # noqa: BLE001 - PIL raises many kinds
            raise DreamerTrainError(f"{path}: not a readable image ({e})") from None
        labels.append(label)
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()  # [N, 3, res, res] uint8
    if with_names:
        return x, torch.tensor(labels, dtype=torch.int64), classes, [p.relative_to(root).as_posix() for p, _ in files]
    return x, torch.tensor(labels, dtype=torch.int64), classes


GROUPS_NAME = "groups.json"  # written by `installation dataset --deep-sky --by-type`


def read_groups(root: str | Path, names: list[str]) -> list[str] | None:
    """The source each image was cut from (DATA/groups.json: {"class/file.png": "source"}), in the
    order of `names`; None when DATA has no groups.json (then every image is its own group)."""
    import json

    path = Path(root) / GROUPS_NAME
    if not path.is_file():
        return None
    try:
        groups = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DreamerTrainError(f"{path}: unreadable ({e})") from None
    if not isinstance(groups, dict):
        raise DreamerTrainError(f"{path}: expected an object {{\"class/file.png\": \"source\"}}")
    missing = [n for n in names if n not in groups]
    if missing:
        raise DreamerTrainError(f"{path}: names no source for {missing[0]} ({len(missing)} image(s) missing)")
    return [str(groups[n]) for n in names]


def grouped_split(labels: torch.Tensor, groups: list[str], val_split: float, seed: int,
                  classes: list[str] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (train, val) where every group (source photograph) lies wholly on one side, so no
    crop of a training photograph is validated on; each class's groups split in the same
    proportion, at least one group of each class per side."""
    if not 0 < val_split < 1:
        raise DreamerTrainError(f"--val-split {val_split}: expected a fraction between 0 and 1")
    rng = np.random.RandomState(seed)
    label_of: dict[str, int] = {}
    for g, y in zip(groups, labels.tolist()):
        if label_of.setdefault(g, y) != y:
            raise DreamerTrainError(f"source {g!r} has crops in two classes; a source must have one class")
    train_groups, val_groups = set(), set()
    for c in sorted(set(label_of.values())):
        gs = sorted(g for g, y in label_of.items() if y == c)
        if len(gs) < 2:
            name = classes[c] if classes else str(c)
            raise DreamerTrainError(f"class {name!r} has {len(gs)} source image(s); need at least 2 to validate "
                                    "on one never trained on")
        rng.shuffle(gs)
        n_val = min(len(gs) - 1, max(1, round(len(gs) * val_split)))
        val_groups.update(gs[:n_val])
        train_groups.update(gs[n_val:])
    val = torch.tensor([i for i, g in enumerate(groups) if g in val_groups], dtype=torch.int64)
    train = torch.tensor([i for i, g in enumerate(groups) if g in train_groups], dtype=torch.int64)
    return train, val


def stratified_split(labels: torch.Tensor, val_split: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (train, val): each class split in the same proportion, at least one of each per side."""
    if not 0 < val_split < 1:
        raise DreamerTrainError(f"--val-split {val_split}: expected a fraction between 0 and 1")
    g = torch.Generator().manual_seed(seed)
    train, val = [], []
    for c in labels.unique():
        idx = torch.nonzero(labels == c).flatten()
        if len(idx) < 2:
            raise DreamerTrainError(f"class {int(c)} has {len(idx)} image(s); need at least 2 to split")
        idx = idx[torch.randperm(len(idx), generator=g)]
        n_val = min(len(idx) - 1, max(1, round(len(idx) * val_split)))
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return torch.cat(train), torch.cat(val)


# --- augmentation and normalisation --------------------------------------------------------


def augment(x: torch.Tensor, color_jitter: bool, g: torch.Generator) -> torch.Tensor:
    """x [N, 3, H, W] in [0, 1] -> random flip, small translation, and (optionally) colour jitter."""
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=g) < 0.5
    x = torch.where(flip.view(n, 1, 1, 1).to(x.device), x.flip(3), x)
    pad = max(1, h // 8)
    xp = F.pad(x, [pad, pad, pad, pad], mode="reflect")
    oy, ox = torch.randint(0, 2 * pad + 1, (2,), generator=g).tolist()  # one offset per batch: cheap
    x = xp[..., oy : oy + h, ox : ox + w]
    if color_jitter:
        def factor():
            return (0.6 + 0.8 * torch.rand(n, 1, 1, 1, generator=g)).to(x.device)  # U(0.6, 1.4)

        x = x * factor()  # brightness
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = (x - mean) * factor() + mean  # contrast
        grey = x.mean(dim=1, keepdim=True)
        x = (x - grey) * factor() + grey  # saturation
        x = x.clamp(0, 1)
    return x


def normalise(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] -> ImageNet-normalised, the same as ResNetDreamer does, so the dream sees what training saw."""
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


# --- model ----------------------------------------------------------------------------------


def _start_weights(net: ResNet, path: str, log: Callable[[str], None]) -> None:
    """Copy local weights into net; the fc layer only when its shape fits (else it starts fresh)."""
    p = Path(path)
    if not p.is_file():
        raise DreamerTrainError(f"{p}: --weights file not found")
    state = _state_dict_of(_torch_load(p), str(p))  # a bare state_dict or a dreamer file
    kw = infer_resnet_kwargs(state)
    if (kw["depth"], kw["width"]) != (net.depth, net.width):
        raise DreamerTrainError(
            f"{p}: holds ResNet-{kw['depth']} (width {kw['width']}); asked for ResNet-{net.depth} (width {net.width})"
        )
    own = net.state_dict()
    fc_fits = all(state[k].shape == own[k].shape for k in ("fc.weight", "fc.bias") if k in state)
    if not fc_fits:
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        log(f"weights: {p.name}: {kw['num_classes']} classes there, {net.num_classes} here; fc starts fresh")
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing or unexpected:
        raise DreamerTrainError(f"{p}: weights do not fit: missing {missing[:5]}, unexpected {unexpected[:5]}")


def _lr_factor(schedule: str, epoch_progress: float) -> float:
    """Learning-rate multiplier at a point of training (0 = start, 1 = end)."""
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * min(epoch_progress, 1.0)))
    if schedule == "step":
        return 0.1 ** (int(epoch_progress >= 0.5) + int(epoch_progress >= 0.75))
    raise DreamerTrainError(f"--schedule {schedule!r}: expected 'cosine' or 'step'")


@torch.no_grad()
def evaluate(net: ResNet, images: torch.Tensor, labels: torch.Tensor, batch: int, device) -> float:
    net.eval()
    correct = 0
    for i in range(0, len(labels), batch):
        x = normalise(images[i : i + batch].to(device).float() / 255)
        correct += int((net(x).argmax(1).cpu() == labels[i : i + batch]).sum())
    return correct / max(1, len(labels))


# --- the loop -------------------------------------------------------------------------------


def train_dreamer(opts: TrainDreamerOptions, log: Callable[[str], None] = print) -> dict:
    """Train, print a table, keep the best epoch in opts.out. Returns {'val_acc', 'epoch', 'history', 'out'}."""
    from tqdm.auto import tqdm

    from installation.device import pick_device

    if opts.epochs < 1 or opts.batch < 1 or opts.res < 8 or opts.lr <= 0:
        raise DreamerTrainError("need --epochs >= 1, --batch >= 1, --res >= 8 and --lr > 0")
    _lr_factor(opts.schedule, 0.0)  # validates the name before any work
    device = pick_device(opts.device)
    torch.manual_seed(opts.seed)
    g = torch.Generator().manual_seed(opts.seed)

    images, labels, classes, names = load_class_folders(opts.data, opts.res, opts.progress, with_names=True)
    groups = read_groups(opts.data, names)
    if groups is None:
        train_idx, val_idx = stratified_split(labels, opts.val_split, opts.seed)
        groups = names  # each image is its own source
    else:
        train_idx, val_idx = grouped_split(labels, groups, opts.val_split, opts.seed, classes)
        log(f"split by source ({GROUPS_NAME}): {len({groups[i] for i in train_idx.tolist()})} sources train, "
            f"{len({groups[i] for i in val_idx.tolist()})} validate")
    log(f"data: {len(labels)} images, {len(classes)} classes ({', '.join(classes[:8])}"
        f"{', ...' if len(classes) > 8 else ''}); train {len(train_idx)}, validation {len(val_idx)}")

    net = ResNet(opts.depth, num_classes=len(classes), width=opts.width)
    if opts.weights:
        _start_weights(net, opts.weights, log)
    net.to(device)
    optimiser = torch.optim.AdamW(net.parameters(), lr=opts.lr, weight_decay=opts.weight_decay)
    steps_per_epoch = math.ceil(len(train_idx) / opts.batch)
    total_steps = steps_per_epoch * opts.epochs
    val_images, val_labels = images[val_idx], labels[val_idx]

    log(f"{'epoch':>5} {'lr':>9} {'loss':>8} {'train acc':>9} {'val acc':>8} {'time s':>7}")
    best = {"val_acc": -1.0, "epoch": 0, "state": None}
    history = []
    step = 0
    for epoch in range(1, opts.epochs + 1):
        t0 = time.perf_counter()
        net.train()
        order = train_idx[torch.randperm(len(train_idx), generator=g)]
        loss_sum, correct, seen = 0.0, 0, 0
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}/{opts.epochs}", unit="batch",
                   disable=not opts.progress, leave=False)
        for b in bar:
            lr = opts.lr * _lr_factor(opts.schedule, step / total_steps)
            for group in optimiser.param_groups:
                group["lr"] = lr
            idx = order[b * opts.batch : (b + 1) * opts.batch]
            x = augment(images[idx].to(device).float() / 255, opts.color_jitter, g)
            y = labels[idx].to(device)
            logits = net(normalise(x))
            loss = F.cross_entropy(logits, y)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            step += 1
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == y).sum())
            seen += len(idx)
            bar.set_postfix(loss=f"{loss_sum / seen:.3f}")
        bar.close()
        val_acc = evaluate(net, val_images, val_labels, opts.batch, device)
        row = {"epoch": epoch, "lr": lr, "loss": loss_sum / seen, "train_acc": correct / seen, "val_acc": val_acc}
        history.append(row)
        improved = val_acc > best["val_acc"]
        if improved:
            best = {"val_acc": val_acc, "epoch": epoch, "state": copy.deepcopy(net.state_dict())}
            _save(opts, net, classes, val_acc, epoch)
        log(f"{epoch:>5} {lr:>9.2e} {row['loss']:>8.4f} {row['train_acc']:>9.3f} {val_acc:>8.3f} "
            f"{time.perf_counter() - t0:>7.1f}{'  *best' if improved else ''}")
    net.load_state_dict(best["state"])
    report = validation_report(net, val_images, val_labels, [groups[i] for i in val_idx.tolist()], classes,
                               opts.batch, device)
    _save(opts, net, classes, best["val_acc"], best["epoch"], report)
    log(f"best: epoch {best['epoch']}, validation accuracy {best['val_acc']:.3f} -> {opts.out}")
    log(format_report(report))
    return {"val_acc": best["val_acc"], "epoch": best["epoch"], "history": history, "out": opts.out,
            "report": report}


@torch.no_grad()
def validation_report(net: ResNet, images: torch.Tensor, labels: torch.Tensor, groups: list[str], classes: list[str],
                      batch: int, device) -> dict:
    """Per-class and overall accuracy on the validation set, by crop and by source image (the mean
    of its crops' class probabilities), with chance: 1/classes and the largest class's share."""
    net.eval()
    probs = []
    for i in range(0, len(labels), batch):
        x = normalise(images[i : i + batch].to(device).float() / 255)
        probs.append(net(x).softmax(1).cpu())
    p = torch.cat(probs) if probs else torch.zeros(0, len(classes))
    pred = p.argmax(1)
    by_source: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        by_source.setdefault(g, []).append(i)
    src_label = torch.tensor([int(labels[idx[0]]) for idx in by_source.values()], dtype=torch.int64)
    src_pred = torch.stack([p[idx].mean(0) for idx in by_source.values()]).argmax(1) if by_source else src_label

    def accuracy(y, yhat):
        per = {}
        for c, name in enumerate(classes):
            m = y == c
            per[name] = {"n": int(m.sum()), "acc": float((yhat[m] == c).float().mean()) if m.any() else None}
        share = max((int((y == c).sum()) for c in range(len(classes))), default=0) / max(1, len(y))
        return {"overall": float((y == yhat).float().mean()) if len(y) else 0.0,
                "balanced": float(np.mean([v["acc"] for v in per.values() if v["acc"] is not None] or [0.0])),
                "per_class": per, "chance_uniform": 1 / len(classes), "chance_majority": share}

    return {"by_crop": accuracy(labels, pred), "by_source": accuracy(src_label, src_pred)}


def format_report(report: dict) -> str:
    """The validation report as a small table (per class: by crop, by source image)."""
    crop, src = report["by_crop"], report["by_source"]
    lines = [f"{'class':<18} {'val crops':>9} {'acc':>6} {'val sources':>11} {'acc':>6}"]
    for name in crop["per_class"]:
        a, b = crop["per_class"][name], src["per_class"][name]
        fa = "-" if a["acc"] is None else f"{a['acc']:.3f}"
        fb = "-" if b["acc"] is None else f"{b['acc']:.3f}"
        lines.append(f"{name:<18} {a['n']:>9} {fa:>6} {b['n']:>11} {fb:>6}")
    lines.append(f"{'overall':<18} {'':>9} {crop['overall']:>6.3f} {'':>11} {src['overall']:>6.3f}")
    lines.append(f"{'class-balanced':<18} {'':>9} {crop['balanced']:>6.3f} {'':>11} {src['balanced']:>6.3f}")
    lines.append(f"chance: 1/{len(crop['per_class'])} = {crop['chance_uniform']:.3f}; largest class "
                 f"{crop['chance_majority']:.3f} of crops, {src['chance_majority']:.3f} of sources")
    return "\n".join(lines)


def _save(opts: TrainDreamerOptions, net: ResNet, classes, val_acc: float, epoch: int, report: dict | None = None) -> None:
    cpu = copy.deepcopy(net).cpu()
    extra = {"epoch": epoch, "color_jitter": opts.color_jitter}
    if report is not None:
        extra["validation"] = report
    save_dreamer_file(opts.out, cpu, classes, opts.res, val_acc, extra=extra)
