"""Our checkpoint format: `torch.save` of plain containers, always loaded with weights_only=True.

    {"format": "installation.stylegan2", "version": 1,
     "G_kwargs": G_ema.init_kwargs, "D_kwargs": D.init_kwargs | None,
     "G_ema": state_dict, "G": state_dict | None, "D": state_dict | None, "extra": {...},
     "checksum": {"G_ema": sha256 hex, "G": ..., "D": ...}}

The kwargs rebuild the networks, so loading needs no guessing. Writes are atomic. The checksum
covers every tensor (name, dtype, shape, bytes) and is verified on load: a corrupted file is an
error, not a black picture. Files written before checksums existed (no "checksum" key) still load;
non-finite weights are an error in every file.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import torch

from installation.models.convert import ForeignModel, foreign_format, load_foreign
from installation.models.errors import CheckpointError, load_error_reason  # noqa: F401 - the public names
from installation.models.limits import check_finite, check_kwargs, refuse_sizing_globals_in_file
from installation.models.stylegan2 import Discriminator, Generator

FORMAT = "installation.stylegan2"
VERSION = 1
RANDOM_PREFIX = "random:"

# The untrained stand-in ("random:SEED[:RES]"): small enough for a laptop CPU.
STAND_IN_RESOLUTION = 64
STAND_IN_KWARGS = dict(
    z_dim=256, c_dim=0, w_dim=256, img_channels=3,
    mapping_kwargs=dict(num_layers=4),
    synthesis_kwargs=dict(channel_base=4096, channel_max=256),
)
STAND_IN_RGB_SCALE = 0.4


def save_checkpoint(path, *, G_ema, G=None, D=None, extra: dict | None = None) -> None:
    """Write a checkpoint atomically: path + ".tmp" first, then os.replace (a crash keeps the old file)."""
    data = {
        "format": FORMAT,
        "version": VERSION,
        "G_kwargs": G_ema.init_kwargs,
        "D_kwargs": D.init_kwargs if D is not None else None,
        "G_ema": _cpu_state(G_ema),
        "G": _cpu_state(G) if G is not None else None,
        "D": _cpu_state(D) if D is not None else None,
        "extra": extra or {},
    }
    data["checksum"] = {key: state_checksum(data[key]) for key in ("G_ema", "G", "D") if data[key] is not None}
    atomic_torch_save(data, path)


def atomic_torch_save(data, path) -> None:
    """torch.save to path + ".tmp", fsync, then os.replace: a crash mid-write keeps the old file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        torch.save(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _cpu_state(module: torch.nn.Module) -> dict:
    # CPU copies: a checkpoint written on a GPU machine loads anywhere.
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


def state_checksum(state: dict) -> str:
    """sha256 over a state_dict's tensors in name order: name, dtype, shape and bytes of each."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name]
        if not isinstance(t, torch.Tensor):
            raise CheckpointError(f"weight {name!r} is a {type(t).__name__}, expected a tensor")
        t = t.detach().to("cpu").contiguous()
        h.update(f"{name}|{t.dtype}|{list(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _verify_checksums(data: dict, path) -> None:
    sums = data.get("checksum")
    if sums is None:
        return  # written before checksums existed (e.g. the shipped hubble64.pt): loads, finiteness still checked
    if not isinstance(sums, dict):
        raise CheckpointError(f"{path}: checkpoint checksum is a {type(sums).__name__}, expected a table")
    for key in ("G_ema", "G", "D"):
        state = data.get(key)
        if state is None and key not in sums:
            continue
        expected = sums.get(key)
        try:
            actual = state_checksum(state) if isinstance(state, dict) else None
        except CheckpointError as e:
            raise CheckpointError(f"{path}: {key}: {e}") from None
        if actual is None or actual != expected:
            raise CheckpointError(f"{path}: checksum mismatch in {key!r}: the file is corrupted "
                                  "(its weights are not the ones that were saved)")


def load_checkpoint(path) -> dict:
    """Read one of our checkpoints (weights_only=True). CheckpointError naming the file if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    refuse_sizing_globals_in_file(path, str(path))
    try:
        with warnings.catch_warnings():  # foreign pickles trigger protocol warnings before the error
            warnings.simplefilter("ignore", UserWarning)
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types here (UnpicklingError, KeyError on garbage, ...)
        raise CheckpointError(
            f"{path}: not an installation checkpoint (could not be read safely with weights_only=True: "
            f"{load_error_reason(e)}); expected a .pt from `installation train` or `installation convert`, "
            "an NVlabs .pkl or a rosinality .pt"
        ) from e
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an installation checkpoint (expected format {FORMAT!r})")
    if data.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {data.get('version')!r} is not supported "
                              f"(this build reads version {VERSION})")
    for key in ("G_kwargs", "G_ema"):
        if not isinstance(data.get(key), dict):
            raise CheckpointError(f"{path}: checkpoint is missing {key!r}")
    _verify_checksums(data, path)
    return data


def _build(cls, kwargs: dict, state: dict, device, source: str):
    check_kwargs(cls, kwargs, source)  # before building: the file's sizes are untrusted
    check_finite(state, source, cls.__name__)
    try:
        net = cls(**kwargs)
        net.load_state_dict(state)
    except (TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{source}: cannot rebuild {cls.__name__} from the checkpoint: {e}") from e
    return net.to(device).eval().requires_grad_(False)


def load_generator(path_or_spec, device) -> Generator:
    """G_ema from a checkpoint (ours, an NVlabs .pkl or a rosinality .pt), or "random:SEED[:RES]" for an
    untrained stand-in. Eval mode, no grads."""
    spec = str(path_or_spec)
    if spec.startswith(RANDOM_PREFIX):
        seed, resolution = _parse_random_spec(spec)
        return random_generator(seed, resolution).to(device)
    if foreign_format(spec) is not None:
        G = load_foreign(spec, discriminator=False).G_ema.to(device)  # NVlabs .pkl, rosinality .pt
    else:
        data = load_checkpoint(spec)
        G = _build(Generator, data["G_kwargs"], data["G_ema"], device, spec)
    check_generator_output(G, spec)
    return G


def check_generator_output(G: Generator, source: str) -> None:
    """CheckpointError if G draws NaN or Inf for a fixed test latent: finite weights can still
    overflow, and such a model would play black frames. One forward pass, before the first frame."""
    z = torch.randn([1, G.z_dim], generator=torch.Generator().manual_seed(0)).to(next(G.parameters()).device)
    c = torch.zeros([1, G.c_dim], device=z.device)
    if G.c_dim:
        c[0, 0] = 1
    with torch.no_grad():
        img = G(z, c if G.c_dim else None, noise_mode="const")  # [1, C, R, R]
    if not bool(torch.isfinite(img).all()):
        raise CheckpointError(f"{source}: the generator draws non-finite pixels (NaN or Inf) for a test latent; "
                              "the model is broken (overflowing weights?)")


def load_discriminator(path, device) -> Discriminator | None:
    """D from a checkpoint; None if it was saved without one (or for a "random:" spec)."""
    if str(path).startswith(RANDOM_PREFIX):
        return None
    if foreign_format(path) is not None:
        D = load_foreign(path, discriminator=True).D
        return D.to(device) if D is not None else None
    data = load_checkpoint(path)
    if data.get("D") is None or data.get("D_kwargs") is None:
        return None
    return _build(Discriminator, data["D_kwargs"], data["D"], device, str(path))


def _parse_random_spec(spec: str) -> tuple[int, int]:
    parts = spec[len(RANDOM_PREFIX):].split(":")
    try:
        if len(parts) not in (1, 2):
            raise ValueError
        seed = int(parts[0])
        resolution = int(parts[1]) if len(parts) == 2 else STAND_IN_RESOLUTION
    except ValueError:
        raise CheckpointError(f"{spec!r}: expected 'random:SEED' or 'random:SEED:RES', e.g. 'random:0:64'") from None
    if resolution < 4 or resolution & (resolution - 1):
        raise CheckpointError(f"{spec!r}: resolution must be a power of two >= 4, got {resolution}")
    return seed, resolution


def random_generator(seed: int, resolution: int = STAND_IN_RESOLUTION) -> Generator:
    """An untrained, deterministic stand-in generator: same seed -> same weights on every machine.

    Weights come from a torch.Generator seeded with `seed` (the global RNG is untouched); w_avg is
    set to the mean w of 1024 latents so truncation behaves as with a trained model.
    """
    G = Generator(img_resolution=resolution, **STAND_IN_KWARGS)
    rng = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in sorted(G.state_dict(keep_vars=True).items()):
            # NVlabs draws these N(0, 1) at init (FC weights divided by lr_multiplier);
            # biases, noise strengths and filters keep their deterministic initial values.
            if name.endswith(("weight", "const", "noise_const")):
                scale = 1.0
                owner = G.get_submodule(name.rsplit(".", 1)[0])
                if name.endswith("weight") and hasattr(owner, "bias_gain"):  # FullyConnectedLayer
                    scale = 1.0 / owner.bias_gain
                tensor.copy_(torch.randn(tensor.shape, generator=rng) * scale)
        # Untrained toRGB layers sum to std ~1.8 (saturated); scale so colours stay mostly in [-1, 1].
        for res in G.synthesis.block_resolutions:
            getattr(G.synthesis, f"b{res}").torgb.weight.mul_(STAND_IN_RGB_SCALE)
        z = torch.randn([1024, G.z_dim], generator=rng)
        G.mapping.w_avg.copy_(G.mapping(z, None)[:, 0].mean(dim=0))
    return G.eval().requires_grad_(False)


def convert_checkpoint(src, dst, class_index: int = 0, discriminator: bool = True) -> ForeignModel:
    """Write `src` (NVlabs .pkl / rosinality .pt) as one of our checkpoints at `dst` (G_ema, and D
    unless discriminator=False). Returns what was read, for a summary."""
    src, dst = Path(src), Path(dst)
    if foreign_format(src) is None:
        try:
            load_checkpoint(src)
        except CheckpointError:
            pass
        else:
            raise CheckpointError(f"{src}: already an installation checkpoint; nothing to convert")
    model = load_foreign(src, class_index, discriminator=discriminator, log_notes=False)
    extra = {"converted_from": src.name, "source_format": model.source_format, "notes": list(model.notes)}
    save_checkpoint(dst, G_ema=model.G_ema, D=model.D, extra=extra)
    return model
