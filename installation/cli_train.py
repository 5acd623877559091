"""The training subcommands (dataset, train, metrics, train-dreamer, train-upscaler, export); cli.py adds them
to `installation`. Thin: parse options, then call installation.train."""

from __future__ import annotations

from pathlib import Path

import click


class UserError(click.ClickException):
    """An error a user can fix; printed without a traceback."""


def make_out_folder(path: Path, option: str) -> None:
    """Create the folder an output file goes into; UserError naming it if that is impossible."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{option} {path}: cannot create its folder {path.parent} ({e.strerror or e})") from None
    if path.is_dir():
        raise UserError(f"{option} {path}: is a folder; expected a file name")


@click.command()
@click.argument("src", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--res", type=int, required=True, help="Output resolution (a power of two).")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True,
              help="Dataset folder, or a .zip file name.")
@click.option("--crops", type=int, help="N random crops per image instead of one centre crop (--hubble: total).")
@click.option("--max-scale", type=float, help="Random crops span res..res*max_scale source pixels (default 1; --hubble 4).")
@click.option("--hubble", is_flag=True, help="Build from the Hubble eXtreme Deep Field image bundled with scikit-image.")
@click.option("--deep-sky", is_flag=True,
              help="Build from Stellarium's deep-sky photographs (apt-get install stellarium-data) and the Hubble XDF; "
                   "--crops is the total (default 10000). Writes a CREDITS file.")
@click.option("--by-type", is_flag=True,
              help="With --deep-sky: one folder per object type (from Stellarium's catalog.dat), the same number "
                   "of crops per class (--crops total, default 6000), groups.json for a split by photograph; "
                   "prints the class counts. For `installation train-dreamer`.")
@click.option("--seed", default=0, show_default=True, help="Seed for the random crops.")
def dataset(src, res, out, crops, max_scale, hubble, deep_sky, by_type, seed):
    """Make a training dataset of RES x RES PNGs (+ dataset.json) from a folder or zip of images."""
    from installation.train.dataset import DatasetError, make_dataset
    from installation.train.deepsky import make_deep_sky_dataset

    if (src is not None) + hubble + deep_sky != 1:
        raise UserError("give exactly one source: SRC (a folder or .zip of images), --hubble or --deep-sky")
    if by_type and not deep_sky:
        raise UserError("--by-type needs --deep-sky (the object types come from Stellarium's catalogue)")
    try:
        if by_type:
            from installation.train.deepsky import make_deep_sky_type_dataset

            counts = make_deep_sky_type_dataset(res, out, crops=crops, seed=seed, log=click.echo)
            click.echo(f"wrote {sum(c['crops'] for c in counts.values())} images of {res}x{res} in "
                       f"{len(counts)} class folders to {out}")
            return
        if deep_sky:
            rep = make_deep_sky_dataset(res, out, crops=crops, seed=seed)
        else:
            rep = make_dataset(None if hubble else str(src), res, out, crops=crops, hubble=hubble, seed=seed,
                               max_scale=max_scale)
    except DatasetError as e:
        raise UserError(str(e)) from None
    click.echo(f"wrote {rep.count} images of {res}x{res} to {rep.out}"
               + (f"; skipped {len(rep.skipped)} unreadable file(s)" if rep.skipped else ""))


@click.command()
@click.argument("data", type=click.Path(exists=True, path_type=Path))
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Run folder (checkpoints, grids, metrics).")
@click.option("--res", type=int, help="Resolution (default: the dataset's).")
@click.option("--batch", default=16, show_default=True, help="Global minibatch (split over processes).")
@click.option("--lr", default=0.0025, show_default=True, help='Adam learning rate for G and D.')
@click.option("--gamma", type=float, help="R1 weight (default 0.0002 * res^2 / batch).")
@click.option("--channel-base", default=8192, show_default=True, help='Generator/discriminator width: channels at resolution r are min(base / r, max).')
@click.option("--channel-max", default=256, show_default=True, help='Cap on channels per layer.')
@click.option("--map-layers", default=2, show_default=True, help='Layers in the mapping network (z -> w).')
@click.option("--z-dim", default=256, show_default=True, help='Dimension of the input latent z.')
@click.option("--w-dim", default=256, show_default=True, help='Dimension of the intermediate latent w.')
@click.option("--kimg", default=1000.0, show_default=True, help="Train until this many thousand real images.")
@click.option("--snap-kimg", default=10.0, show_default=True, help="Snapshot (checkpoint, grid, SWD) every N kimg.")
@click.option("--tick-kimg", default=1.0, show_default=True, help="A metrics.jsonl line every N kimg.")
@click.option("--aug", type=click.Choice(["ada", "noaug"]), default="ada", show_default=True, help='ada: adaptive augmentation of reals and fakes; noaug: none.')
@click.option("--target", default=0.6, show_default=True, help="ADA target for E[sign(D(real))].")
@click.option("--ada-kimg", default=500.0, show_default=True, help="ADA speed: p can go 0->1 in this many kimg.")
@click.option("--pl-weight", default=0.0, show_default=True, help="Path-length regularisation (0: off).")
@click.option("--style-mix", default=0.9, show_default=True, help="Style-mixing probability.")
@click.option("--ema-kimg", type=float, help="G_ema half-life in kimg (default batch * 10 / 32).")
@click.option("--seed", default=0, show_default=True, help='Seed for initialisation, minibatch order and fixed sample-grid latents.')
@click.option("--device", default="auto", show_default=True, help="Torch device: 'auto' (CUDA if available, else CPU), 'cpu', 'cuda' or 'cuda:N'.")
@click.option("--resume", type=click.Path(exists=True), help="Continue a run: its folder (latest.pt) or a .pt file.")
@click.option("--swd-num", default=512, show_default=True, help="Images per side for SWD at snapshots (0: off).")
@click.option("--keep-snapshots", default=3, show_default=True, help='How many snapshot-*.pt files to keep (latest.pt is always kept).')
@click.option("--save-minutes", default=10.0, show_default=True, help="Also write latest.pt this often.")
@click.option("--threads", type=int, help="torch CPU threads (default: all cores / processes).")
def train(data, out, **kw):
    """Train StyleGAN2-ADA on DATA (made by `installation dataset`). Resume with --resume RUN.

    Several processes: torchrun --nproc_per_node N -m installation train ...
    """
    from installation.train.loop import TrainOptions, train as run_training

    opts = TrainOptions(data=str(data), out=str(out), **kw)
    try:
        run_training(opts)
    except (ValueError, FileNotFoundError) as e:
        raise UserError(str(e)) from None


@click.command()
@click.argument("checkpoint")
@click.argument("data", type=click.Path(exists=True, path_type=Path))
@click.option("--num", default=2048, show_default=True, help="Images per set (real halves are capped at N/2).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--device", default="auto", show_default=True, help="Torch device: 'auto' (CUDA if available, else CPU), 'cpu', 'cuda' or 'cuda:N'.")
@click.option("--seed", default=0, show_default=True, help='Seed for the untrained model and the random patch projections.')
@click.option("--noise", "noise_mode", type=click.Choice(["random", "const"]), default="random", show_default=True,
              help="Noise the generated images use for the SWD.")
def metrics(checkpoint, data, num, as_json, device, seed, noise_mode):
    """SWD (x1e3, ProGAN's Laplacian-patch metric) of CHECKPOINT vs DATA, with real-vs-real and untrained;
    w_share (how much of the picture w decides: 64 seeds, const vs random noise); colourfulness."""
    import json

    from installation.train.metrics_swd import metrics_report

    try:
        rep = metrics_report(checkpoint, str(data), num=num, device_name=device, seed=seed, noise_mode=noise_mode)
    except (ValueError, FileNotFoundError) as e:
        raise UserError(str(e)) from None
    if as_json:
        click.echo(json.dumps({k: v for k, v in rep.items() if k != "levels"}))
        return
    for key in ("swd", "swd_real_real", "swd_untrained"):
        levels = ", ".join(f"{r}px {v:.2f}" for r, v in rep["levels"][key].items())
        click.echo(f"{key:14s} {rep[key]:8.2f}   ({levels})")
    click.echo(f"({rep['num']} images per set, {rep['noise']} noise; x1e3 as in ProGAN)")
    click.echo(f"w_share        {rep['w_share']:8.3f}   (1: w decides the picture; 0: the noise does)")
    click.echo(f"colourfulness  {rep['colourfulness']:8.2f}   (real images: {rep['colourfulness_real']:.2f})")


@click.command("train-dreamer")
@click.argument("data", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Dreamer file to write.")
@click.option("--depth", default=18, show_default=True, type=click.Choice(["18", "34", "50", "101", "152"]), help="ResNet depth (torchvision's layouts).")
@click.option("--epochs", default=10, show_default=True, type=click.IntRange(min=1), help='Training epochs; the best by validation accuracy is kept.')
@click.option("--batch", default=32, show_default=True, type=click.IntRange(min=1), help='Minibatch size.')
@click.option("--lr", default=1e-3, show_default=True, help="Peak AdamW learning rate.")
@click.option("--schedule", default="cosine", show_default=True, type=click.Choice(["cosine", "step"]),
              help="Learning-rate decay.")
@click.option("--res", default=64, show_default=True, type=click.IntRange(min=8), help="Training image size.")
@click.option("--val-split", default=0.2, show_default=True,
              help="Fraction of each class held out (of its source images when DATA has a groups.json).")
@click.option("--color-jitter/--no-color-jitter", default=True, show_default=True, help='Random brightness/contrast/saturation/hue on training images.')
@click.option("--weights", type=click.Path(exists=True, dir_okay=False), help="Start from local torchvision weights.")
@click.option("--width", default=64, show_default=True, type=click.IntRange(min=1),
              help="Stem channels (64 = torchvision; smaller for tiny, fast dreamers).")
@click.option("--seed", default=0, show_default=True, help='Seed for the split, initialisation and augmentation.')
@click.option("--device", default="auto", show_default=True, help="Torch device: 'auto' (CUDA if available, else CPU), 'cpu', 'cuda' or 'cuda:N'.")
def train_dreamer_command(data, out, depth, **kw):
    """Train a ResNet classifier on DATA/<class>/<images> to dream with (--net OUT)."""
    from installation.train.dreamer import DreamerTrainError, TrainDreamerOptions, train_dreamer

    try:
        train_dreamer(TrainDreamerOptions(data=str(data), out=str(out), depth=int(depth), **kw), log=click.echo)
    except (DreamerTrainError, ValueError, FileNotFoundError) as e:
        raise UserError(str(e)) from None


# --- convert (installation/models/convert.py, nvlabs_pickle.py, rosinality.py) ---


@click.command()
@click.argument("src", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("dst", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--float32", is_flag=True, help="Keep float32 weights (default: float16 storage, half the size).")
def export(src, dst, float32):
    """Ship a trained model: G_ema and D of the training checkpoint SRC (e.g. runs/NAME/latest.pt)
    as DST, without the training state. It loads like any checkpoint (fp16 weights back to fp32)."""
    from installation.models.checkpoint import CheckpointError
    from installation.train.export import export_checkpoint

    try:
        info = export_checkpoint(str(src), str(dst), half=not float32)
    except CheckpointError as e:
        raise UserError(str(e)) from None
    click.echo(f"wrote {dst} ({info.get('kimg', 0):.1f} kimg, {info.get('train_seconds', 0) / 3600:.2f} h)")


# --- train-upscaler (installation/train/upscaler.py, installation/models/upscaler.py) ---


@click.command("train-upscaler")
@click.argument("data", type=click.Path(path_type=Path))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Upscaler file to write (.pt).")
@click.option("--steps", default=18000, show_default=True, help="Optimiser steps.")
@click.option("--batch", default=32, show_default=True, help="HR patches per step.")
@click.option("--patch", default=64, show_default=True, help="HR patch side in pixels (a multiple of 4; LR is a quarter).")
@click.option("--channels", default=16, show_default=True, help="Channels of every hidden conv.")
@click.option("--layers", default=3, show_default=True, help="Hidden 3x3 convs after the first one.")
@click.option("--lr", default=2e-3, show_default=True, help="Adam learning rate (cosine decay to 1% of it).")
@click.option("--loss", type=click.Choice(["mse", "l1", "charbonnier"]), default="mse", show_default=True,
              help="Pixel loss (MSE measured best for PSNR on star fields).")
@click.option("--holdout", default=0.1, show_default=True, help="Fraction of the dataset's last files held out (other source images).")
@click.option("--eval-every", default=2000, show_default=True, type=click.IntRange(min=1), help="Held-out PSNR every N steps.")
@click.option("--save-every", default=1000, show_default=True, type=click.IntRange(min=1), help="Also write --out every N steps.")
@click.option("--seed", default=0, show_default=True, help="Seed for initialisation and patch sampling.")
@click.option("--threads", type=int, help="torch CPU threads (default: torch's choice).")
@click.option("--device", default="auto", show_default=True, help="Torch device: 'auto' (CUDA if available, else CPU), 'cpu', 'cuda' or 'cuda:N'.")
def train_upscaler_command(data, out, **kw):
    """Train the learned x4 upscaler on DATA (made by `installation dataset`); prints held-out PSNR vs bicubic."""
    from installation.train.upscaler import TrainUpscalerOptions, UpscalerTrainError, train_upscaler

    try:
        train_upscaler(TrainUpscalerOptions(data=str(data), out=str(out), **kw), log=click.echo)
    except (UpscalerTrainError, ValueError) as e:
        raise UserError(str(e)) from None


COMMANDS = (dataset, train, metrics, train_dreamer_command, train_upscaler_command, export)
