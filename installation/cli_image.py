"""The image subcommands: project a photograph into w, generate stills, dream on an image,
convert a checkpoint. Thin, like cli.py: parse options, then call the library."""

from __future__ import annotations

from pathlib import Path

import click

from installation.cli_train import UserError, make_out_folder



@click.command()
@click.argument("image", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("checkpoint")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Where to save w (.npy).")
@click.option("--steps", default=500, show_default=True, help='Optimisation steps.')
@click.option("--lr", default=0.1, show_default=True, help='Adam learning rate for w and the noise buffers.')
@click.option("--device", default="auto", show_default=True, help="Torch device: 'auto' (CUDA if available, else CPU), 'cpu', 'cuda' or 'cuda:N'.")
@click.option("--seed", default=0, show_default=True, help='Seed for the noise initialisation.')
def project(image, checkpoint, out, steps, lr, device, seed):
    """Find a w that makes CHECKPOINT's generator reproduce IMAGE; saves W.npy [num_ws, w_dim] and a PNG."""
    from installation.project import ProjectionError, project_file

    try:
        rep = project_file(image, checkpoint, out, steps=steps, lr=lr, device_name=device, seed=seed)
    except ProjectionError as e:
        raise UserError(str(e)) from None
    click.echo(f"saved {rep['w_path']} and {rep['png_path']} (loss {rep['first_loss']:.4f} -> {rep['final_loss']:.4f})")


# --- generate (installation/generate.py) ---


class _SeedList(click.ParamType):
    name = "SEEDS"

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        from installation.generate import parse_seeds

        try:
            return parse_seeds(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)


@click.command()
@click.argument("checkpoint")
@click.option("--seeds", type=_SeedList(), default="0-15", show_default=True,
              help="Seeds to render: numbers and ranges, e.g. '0-15' or '0-3,7,9'. Seed s uses "
                   "z = RandomState(s).randn(1, z_dim), as NVlabs, so seeds match their tools.")
@click.option("--trunc", "truncation_psi", type=float, default=1.0, show_default=True,
              help="Truncation psi: 1 = no truncation, lower = closer to the average image (0.7 is typical).")
@click.option("--trunc-cutoff", "truncation_cutoff", type=click.IntRange(min=1),
              help="Truncate only the first N ws (coarse styles); default: all.")
@click.option("--noise", "noise_mode", type=click.Choice(["const", "random", "none"]), default="const",
              show_default=True, help="Per-pixel noise: the stored fixed noise, fresh random noise, or none.")
@click.option("--outdir", type=click.Path(file_okay=False, path_type=Path), default=Path("out"), show_default=True,
              help="Folder for seed0000.png, seed0001.png, ... (created if missing).")
@click.option("--grid", type=click.Path(dir_okay=False, path_type=Path),
              help="Also save all images tiled into this PNG, e.g. --grid grid.png.")
@click.option("--grid-cols", type=click.IntRange(min=1), help="Columns of the grid (default: near-square).")
@click.option("--device", default="auto", show_default=True, help="'auto' (CUDA if available), 'cpu', 'cuda', 'cuda:1', ...")
def generate(checkpoint, seeds, truncation_psi, truncation_cutoff, noise_mode, outdir, grid, grid_cols, device):
    """Render one PNG per seed from CHECKPOINT's generator (G_ema).

    CHECKPOINT is a .pt file written by `installation train`, or 'random:SEED[:RES]' for an
    untrained stand-in generator.
    """
    import torch

    from installation.device import pick_device
    from installation.generate import generate_images, save_grid, save_image
    from installation.models.checkpoint import CheckpointError, load_generator

    try:
        dev = pick_device(device)
    except (ValueError, RuntimeError) as e:
        raise UserError(f"--device: {e}") from None
    try:
        G = load_generator(checkpoint, dev)
    except CheckpointError as e:
        raise UserError(str(e)) from None
    if truncation_cutoff is not None and truncation_cutoff > G.num_ws:
        raise UserError(f"--trunc-cutoff {truncation_cutoff} is more than the generator's {G.num_ws} ws")
    with torch.inference_mode():
        images = generate_images(G, seeds, truncation_psi, noise_mode, dev, truncation_cutoff=truncation_cutoff)
    outdir.mkdir(parents=True, exist_ok=True)
    for seed, image in zip(seeds, images):
        save_image(image, outdir / f"seed{seed:04d}.png")
    msg = f"wrote {len(images)} images ({G.img_resolution}x{G.img_resolution}) to {outdir}"
    if grid is not None:
        save_grid(images, grid, cols=grid_cols)
        msg += f" and the grid {grid}"
    click.echo(msg)


# --- dream, train-dreamer (installation/dream.py, dreamers.py, train/dreamer.py) ---


def _shipped_checkpoint() -> Path | None:
    path = Path(__file__).resolve().parent.parent / "checkpoints" / "hubble64.pt"
    return path if path.is_file() else None


def _check_image_out(path: Path, option: str) -> None:
    """UserError before any work if PIL cannot write an image with this file's extension."""
    from PIL import Image

    Image.init()
    ext = path.suffix.lower()
    if ext not in Image.registered_extensions() or Image.registered_extensions()[ext] not in Image.SAVE:
        raise UserError(f"{option} {path}: cannot write images with extension {ext or '(none)'!r}; "
                        "use .png, .jpg, .webp, .tif or .bmp")


def _open_dreamer(net, device, checkpoint, weights):
    from installation.dreamers import load_dreamer

    if net == "discriminator" and checkpoint is None:
        checkpoint = _shipped_checkpoint()
        if checkpoint is None:
            raise UserError("--net discriminator needs --checkpoint CKPT (no shipped checkpoints/hubble64.pt found)")
    try:
        return load_dreamer(net, device, checkpoint=checkpoint, weights=weights)
    except (ValueError, FileNotFoundError) as e:
        raise UserError(str(e)) from None


@click.command()
@click.argument("image", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--net", default="discriminator", show_default=True,
              help="'discriminator', 'resnet18'..'resnet152', or a dreamer file from train-dreamer.")
@click.option("--list-layers", "list_net", metavar="NET", help="Print the layer names of NET and exit.")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False), help="Local torchvision weights for --net resnetNN.")
@click.option("--checkpoint", help="Checkpoint whose discriminator dreams (default: the shipped one).")
@click.option("--layer", help="Layer to maximise (default: a middle one; see --list-layers).")
@click.option("--objective", default="l2", show_default=True, help="'l2', 'channel:N' or 'guide:IMAGE'.")
@click.option("--octaves", default=4, show_default=True, type=click.IntRange(min=1), help='Number of octaves (scales) to dream at, smallest first.')
@click.option("--octave-scale", default=1.4, show_default=True, type=click.FloatRange(min=1.0), help='Size ratio between consecutive octaves.')
@click.option("--iterations", default=10, show_default=True, type=click.IntRange(min=0), help='Gradient steps per octave.')
@click.option("--step", default=0.02, show_default=True, help="Normalised step, in [-1, 1] image units.")
@click.option("--jitter", default=32, show_default=True, help="Random roll in pixels, undone after each step.")
@click.option("--smooth", default=0.0, show_default=True, help="Gaussian blur of the gradient (sigma, pixels).")
@click.option("--size", type=click.IntRange(min=16), help="Shrink so the longer side is at most this many pixels.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Output image (.png).")
@click.option("--device", default="auto", show_default=True, help="Torch device: 'auto' (CUDA if available, else CPU), 'cpu', 'cuda' or 'cuda:N'.")
@click.option("--seed", default=0, show_default=True, help="Seed for the jitter.")
def dream(image, net, list_net, weights, checkpoint, layer, objective, octaves, octave_scale, iterations, step,
          jitter, smooth, size, out, device, seed):
    """DeepDream a still IMAGE, or list a network's layers (--list-layers NET)."""
    from installation.device import pick_device

    try:
        dev = pick_device(device)
    except (ValueError, RuntimeError) as e:
        raise UserError(f"--device: {e}") from None
    if list_net:
        from installation.dreamers import list_layers

        d = _open_dreamer(list_net, dev, checkpoint, weights)
        for name in list_layers(d):
            click.echo(f"{name}{'  (default)' if name == d.default_layer else ''}")
        return
    if image is None or out is None:
        raise UserError("give IMAGE and --out OUT.png (or --list-layers NET)")
    from PIL import Image

    from installation.dream import MAX_DREAM_PIXELS, dream_image, load_image, tensor_to_uint8

    _check_image_out(out, "--out")
    make_out_folder(out, "--out")
    try:
        img = load_image(image, max_side=size, max_pixels=MAX_DREAM_PIXELS).to(dev)
    except (ValueError, FileNotFoundError) as e:
        raise UserError(str(e)) from None
    d = _open_dreamer(net, dev, checkpoint, weights)
    try:
        result = dream_image(img, d, layer, objective, octaves=octaves, octave_scale=octave_scale,
                             iterations=iterations, step=step, jitter=jitter, smooth_sigma=smooth, seed=seed)
    except (KeyError, ValueError, FileNotFoundError) as e:
        raise UserError(str(e).strip("'\"")) from None
    try:
        Image.fromarray(tensor_to_uint8(result)).save(out)
    except OSError as e:
        raise UserError(f"{out}: cannot write the image ({e.strerror or e})") from None
    click.echo(f"wrote {out} ({result.shape[-1]}x{result.shape[-2]}, {d.name}, layer {layer or d.default_layer})")


@click.command()
@click.argument("src", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("dst", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--class", "class_index", type=click.IntRange(min=0), default=0, show_default=True,
              help="Conditional models: the class to play (it is baked into the converted model).")
@click.option("--no-discriminator", is_flag=True,
              help="Leave the discriminator out (smaller file, but it cannot dream with 'discriminator').")
def convert(src, dst, class_index, no_discriminator):
    """Convert SRC (an NVlabs StyleGAN2 .pkl or a rosinality stylegan2-pytorch .pt) to our checkpoint DST.

    Nothing in SRC is executed (code inside a .pkl is refused). The result starts faster and is
    safe to share. StyleGAN3 and TensorFlow models are not supported yet.
    """
    from installation.models.checkpoint import CheckpointError, convert_checkpoint

    try:
        model = convert_checkpoint(src, dst, class_index=class_index, discriminator=not no_discriminator)
    except CheckpointError as e:
        raise UserError(str(e)) from None
    G = model.G_ema
    click.echo(f"wrote {dst}: {model.source_format} {G.img_resolution}x{G.img_resolution} generator"
               + (" + discriminator" if model.D is not None else "") + f" ({G.num_ws} ws, w_dim {G.w_dim})")
    for note in model.notes:
        click.echo(f"note: {note}")


COMMANDS = (project, generate, dream, convert)
