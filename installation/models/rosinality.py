"""rosinality stylegan2-pytorch checkpoints (.pt) -> our networks.

Training checkpoints hold {"g", "d", "g_ema", "g_optim", "d_optim", "args", ...}; converted ones
(convert_weight.py) hold {"g_ema", "latent_avg"} and sometimes "d". Read with weights_only=True
(argparse.Namespace, the training args, is the one extra class allowed).

The maths is NVlabs' with other names, so weights copy over with a key map and reshapes:
  style.{i+1}                  -> mapping.fc{i}        (style.0 is PixelNorm = our z normalisation; lr_mul 0.01)
  input.input [1, C, 4, 4]     -> synthesis.b4.const   [C, 4, 4]
  conv1 / to_rgb1              -> b4.conv1 / b4.torgb
  convs.{2k} / convs.{2k+1}    -> b{8*2^k}.conv0 (2x up) / .conv1;  to_rgbs.{k} -> b{8*2^k}.torgb
  StyledConv: conv.weight [1, O, I, k, k] -> weight [O, I, k, k]; conv.modulation -> affine;
              noise.weight [1] -> noise_strength []; activate.bias -> bias
  ToRGB:      conv.weight [1, 3, I, 1, 1] -> weight; conv.modulation -> affine; bias [1, 3, 1, 1] -> bias [3]
  noises.noise_{j} [1, 1, R, R] -> noise_const [R, R] of the j-th conv layer (b4.conv1, b8.conv0, b8.conv1, ...)
  latent_avg -> mapping.w_avg (training checkpoints have none: estimated from 4096 fixed latents)
Scale conventions: rosinality scales the conv weight by 1/sqrt(fan_in) inside the modulated conv,
NVlabs does not, but demodulation divides it out (only the 1e-8 epsilon sees it); for toRGB both
scale the styles by 1/sqrt(fan_in). Its blur / upsample pads equal NVlabs' upfirdn2d pads.
The channel multiplier is not stored: channels come from the weight shapes.
"""

from __future__ import annotations

import argparse
import re
import warnings
from pathlib import Path

import torch

from installation.models.formats import CheckpointError, build_from_state, channel_config, load_error_reason
from installation.models.limits import check_kwargs, refuse_sizing_globals_in_file
from installation.models.ops import setup_filter
from installation.models.stylegan2 import Discriminator, Generator

# rosinality's Generator default (not stored in checkpoints; its train.py never changes it).
MAPPING_LR_MULTIPLIER = 0.01
W_AVG_SAMPLES = 4096
W_AVG_SEED = 0


def read_rosinality(path) -> dict:
    """torch.load(weights_only=True), allowing argparse.Namespace (the training args)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    refuse_sizing_globals_in_file(path, str(path))
    try:
        with warnings.catch_warnings(), torch.serialization.safe_globals([argparse.Namespace]):
            warnings.simplefilter("ignore")
            data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # UnpicklingError naming a refused global, garbage, ...
        raise CheckpointError(f"{path}: could not be read safely as a rosinality checkpoint (weights_only=True): "
                              f"{load_error_reason(e)}") from e
    if not is_rosinality(data):
        keys = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"{path}: not a rosinality stylegan2-pytorch checkpoint (expected a dict with 'g_ema'), "
                              f"found {keys}")
    return data


def is_rosinality(data) -> bool:
    return isinstance(data, dict) and isinstance(data.get("g_ema"), dict)


def _indices(sd: dict, pattern: str) -> list[int]:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in sd if (m := rx.fullmatch(k))})


def _take(sd: dict, key: str, used: set, source: str, what: str) -> torch.Tensor:
    if key not in sd:
        raise CheckpointError(f"{source}: rosinality {what} is missing {key!r}")
    used.add(key)
    return sd[key]


def _check_blur(sd: dict, key: str, used: set, source: str, gain: float) -> None:
    """Blur kernels are buffers derived from [1, 3, 3, 1]; we rebuild ours, so only check they are that."""
    if key not in sd:
        return
    used.add(key)
    k = sd[key].float()
    if k.shape != (4, 4) or not torch.allclose(k / gain, setup_filter((1, 3, 3, 1)), atol=1e-6):
        raise CheckpointError(f"{source}: {key!r} is not the default [1, 3, 3, 1] blur kernel; not supported")


def _leftover(sd: dict, used: set, source: str, what: str) -> None:
    rest = [k for k in sd if k not in used]
    if rest:
        shown = ", ".join(repr(k) for k in rest[:6]) + (f" (+{len(rest) - 6} more)" if len(rest) > 6 else "")
        raise CheckpointError(f"{source}: rosinality {what} has weights we do not know: {shown}")


# --- generator ------------------------------------------------------------------------------


def generator_state(sd: dict, source: str) -> tuple[dict, dict, bool]:
    """(our Generator kwargs, our state dict less anything missing, whether noise was present)."""
    used: set = set()
    fcs = _indices(sd, r"style\.(\d+)\.weight")
    if not fcs or fcs != list(range(1, len(fcs) + 1)):
        raise CheckpointError(f"{source}: rosinality g_ema has no mapping layers style.1..style.N")
    n_convs = len(_indices(sd, r"convs\.(\d+)\.conv\.weight"))
    if n_convs % 2:
        raise CheckpointError(f"{source}: rosinality g_ema has an odd number of convs ({n_convs})")
    w_dim, z_dim = _take(sd, "style.1.weight", set(), source, "g_ema").shape
    log2 = 2 + n_convs // 2
    resolution = 2**log2
    img_channels = _take(sd, "to_rgb1.conv.weight", set(), source, "g_ema").shape[1]

    state: dict[str, torch.Tensor] = {}
    for i in fcs:
        state[f"mapping.fc{i - 1}.weight"] = _take(sd, f"style.{i}.weight", used, source, "g_ema")
        state[f"mapping.fc{i - 1}.bias"] = _take(sd, f"style.{i}.bias", used, source, "g_ema")
    state["synthesis.b4.const"] = _take(sd, "input.input", used, source, "g_ema")[0]

    def styled_conv(src: str, dst: str, noise_index: int) -> None:
        state[f"{dst}.weight"] = _take(sd, f"{src}.conv.weight", used, source, "g_ema")[0]
        state[f"{dst}.affine.weight"] = _take(sd, f"{src}.conv.modulation.weight", used, source, "g_ema")
        state[f"{dst}.affine.bias"] = _take(sd, f"{src}.conv.modulation.bias", used, source, "g_ema")
        state[f"{dst}.noise_strength"] = _take(sd, f"{src}.noise.weight", used, source, "g_ema").reshape([])
        state[f"{dst}.bias"] = _take(sd, f"{src}.activate.bias", used, source, "g_ema")
        noise_key = f"noises.noise_{noise_index}"
        if noise_key in sd:
            state[f"{dst}.noise_const"] = _take(sd, noise_key, used, source, "g_ema")[0, 0]  # [R, R]
        _check_blur(sd, f"{src}.conv.blur.kernel", used, source, gain=4.0)

    def to_rgb(src: str, dst: str) -> None:
        state[f"{dst}.weight"] = _take(sd, f"{src}.conv.weight", used, source, "g_ema")[0]
        state[f"{dst}.affine.weight"] = _take(sd, f"{src}.conv.modulation.weight", used, source, "g_ema")
        state[f"{dst}.affine.bias"] = _take(sd, f"{src}.conv.modulation.bias", used, source, "g_ema")
        state[f"{dst}.bias"] = _take(sd, f"{src}.bias", used, source, "g_ema").reshape(-1)
        _check_blur(sd, f"{src}.upsample.kernel", used, source, gain=4.0)

    styled_conv("conv1", "synthesis.b4.conv1", 0)
    to_rgb("to_rgb1", "synthesis.b4.torgb")
    channels = {4: state["synthesis.b4.conv1.weight"].shape[0]}
    for k in range(n_convs // 2):
        res = 8 * 2**k
        styled_conv(f"convs.{2 * k}", f"synthesis.b{res}.conv0", 2 * k + 1)
        styled_conv(f"convs.{2 * k + 1}", f"synthesis.b{res}.conv1", 2 * k + 2)
        to_rgb(f"to_rgbs.{k}", f"synthesis.b{res}.torgb")
        channels[res] = state[f"synthesis.b{res}.conv1.weight"].shape[0]
    _leftover(sd, used, source, "g_ema")

    channel_base, channel_max = channel_config(channels, source)
    kwargs = dict(z_dim=int(z_dim), c_dim=0, w_dim=int(w_dim), img_resolution=resolution,
                  img_channels=int(img_channels),
                  mapping_kwargs=dict(num_layers=len(fcs), lr_multiplier=MAPPING_LR_MULTIPLIER),
                  synthesis_kwargs=dict(channel_base=channel_base, channel_max=channel_max))
    has_noise = all(f"noises.noise_{j}" in sd for j in range(n_convs + 1))
    return kwargs, state, has_noise


def generator_from_rosinality(data: dict, source: str) -> tuple[Generator, list[str]]:
    kwargs, state, has_noise = generator_state(data["g_ema"], source)
    notes = []
    # Buffers the file may lack: filters (always ours), constant noise, w_avg; filled deterministically.
    check_kwargs(Generator, kwargs, source)
    template = Generator(**kwargs).state_dict()
    rng = torch.Generator().manual_seed(W_AVG_SEED)
    for key, value in template.items():
        if key not in state and (key.endswith("resample_filter") or key.endswith("noise_const")):
            state[key] = value if key.endswith("resample_filter") else torch.randn(value.shape, generator=rng)
    if not has_noise:
        notes.append("no stored noise buffers: constant noise drawn from a fixed seed")
    latent_avg = data.get("latent_avg")
    state["mapping.w_avg"] = (latent_avg.reshape(-1).float() if isinstance(latent_avg, torch.Tensor)
                              else torch.zeros(template["mapping.w_avg"].shape))
    G = build_from_state(Generator, kwargs, state, source, "generator")
    if not isinstance(latent_avg, torch.Tensor):
        with torch.no_grad():  # as rosinality's mean_latent: the mean w of many random z
            z = torch.randn([W_AVG_SAMPLES, G.z_dim], generator=rng)
            G.mapping.w_avg.copy_(G.mapping(z, None)[:, 0].mean(dim=0))
        notes.append(f"no latent_avg in the file: w_avg estimated from {W_AVG_SAMPLES} latents")
    return G, notes


# --- discriminator --------------------------------------------------------------------------


def discriminator_state(sd: dict, source: str) -> tuple[dict, dict]:
    """(our Discriminator kwargs, our state dict) from rosinality's "d"."""
    used: set = set()
    blocks = _indices(sd, r"convs\.(\d+)\.conv1\.0\.weight")
    if not blocks or blocks != list(range(1, len(blocks) + 1)):
        raise CheckpointError(f"{source}: rosinality d has no residual blocks convs.1..convs.N")
    resolution = 4 * 2 ** len(blocks)
    from_rgb = _take(sd, "convs.0.0.weight", used, source, "d")
    state = {
        f"b{resolution}.fromrgb.weight": from_rgb,
        f"b{resolution}.fromrgb.bias": _take(sd, "convs.0.1.bias", used, source, "d"),
    }
    channels = {}
    for k in blocks:
        res = resolution // 2 ** (k - 1)
        p, q = f"convs.{k}", f"b{res}"
        state[f"{q}.conv0.weight"] = _take(sd, f"{p}.conv1.0.weight", used, source, "d")
        state[f"{q}.conv0.bias"] = _take(sd, f"{p}.conv1.1.bias", used, source, "d")
        state[f"{q}.conv1.weight"] = _take(sd, f"{p}.conv2.1.weight", used, source, "d")
        state[f"{q}.conv1.bias"] = _take(sd, f"{p}.conv2.2.bias", used, source, "d")
        state[f"{q}.skip.weight"] = _take(sd, f"{p}.skip.1.weight", used, source, "d")
        _check_blur(sd, f"{p}.conv2.0.kernel", used, source, gain=1.0)
        _check_blur(sd, f"{p}.skip.0.kernel", used, source, gain=1.0)
        channels[res] = state[f"{q}.conv0.weight"].shape[0]
    state["b4.conv.weight"] = _take(sd, "final_conv.0.weight", used, source, "d")
    state["b4.conv.bias"] = _take(sd, "final_conv.1.bias", used, source, "d")
    for i, name in enumerate(("fc", "out")):
        state[f"b4.{name}.weight"] = _take(sd, f"final_linear.{i}.weight", used, source, "d")
        state[f"b4.{name}.bias"] = _take(sd, f"final_linear.{i}.bias", used, source, "d")
    channels[4] = state["b4.conv.weight"].shape[0]
    _leftover(sd, used, source, "d")
    channel_base, channel_max = channel_config(channels, source)
    # rosinality's minibatch-stddev: groups of 4, one feature (as NVlabs' defaults).
    kwargs = dict(c_dim=0, img_resolution=resolution, img_channels=int(from_rgb.shape[1]),
                  channel_base=channel_base, channel_max=channel_max, mbstd_group_size=4, mbstd_num_channels=1)
    return kwargs, state


def discriminator_from_rosinality(data: dict, source: str) -> Discriminator | None:
    sd = data.get("d")
    if not isinstance(sd, dict):
        return None
    kwargs, state = discriminator_state(sd, source)
    check_kwargs(Discriminator, kwargs, source)
    template = Discriminator(**kwargs).state_dict()
    for key, value in template.items():
        if key.endswith("resample_filter"):
            state[key] = value
    return build_from_state(Discriminator, kwargs, state, source, "discriminator")


def load_rosinality(path, discriminator: bool = True):
    """(G_ema, D or None, notes) from a rosinality checkpoint, as our networks on the CPU."""
    data = read_rosinality(path)
    G, notes = generator_from_rosinality(data, str(path))
    D = discriminator_from_rosinality(data, str(path)) if discriminator else None
    return G, D, notes
