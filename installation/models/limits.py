"""Sane bounds on a network's architecture, checked before anything is built.

A model file says how big its network is (our checkpoints store the kwargs; NVlabs pickles keep them
as attributes; rosinality files imply them by weight shapes). A hostile or corrupt file can say
`num_layers=100000` or `img_resolution=16384`, and building that would hang or exhaust memory before
any weight is compared. Every loader calls `check_generator_kwargs` / `check_discriminator_kwargs`
first: a value outside these bounds is a CheckpointError that names the file and the key.

The bounds are generous for StyleGAN2 (NVlabs' largest config F: 1024 px, 512 channels, 8 mapping
layers, about 30 M generator parameters).
"""

from __future__ import annotations

import math

import torch

from installation.models.errors import CheckpointError
from installation.models.ops import ACTIVATION_GAIN
from installation.models.stylegan2 import Generator

MAX_RESOLUTION = 2048
MAX_CHANNELS = 4096          # z_dim, w_dim, channel_max, layer/embed features, cmap_dim
MAX_CHANNEL_BASE = 1 << 20
MAX_C_DIM = 100_000          # classes of a conditional model
MAX_IMG_CHANNELS = 4
MAX_MAPPING_LAYERS = 32
MAX_PARAMETERS = 400_000_000  # 1.6 GB of fp32 weights: far above any StyleGAN2 config


def _error(source: str, what: str, key: str, value, expected: str) -> Exception:
    return CheckpointError(f"{source}: {what} {key}={value!r} is out of bounds; expected {expected}")


def _int(kw: dict, key: str, lo: int, hi: int, source: str, what: str, *, default=None) -> int | None:
    value = kw.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise _error(source, what, key, value, f"an integer in {lo}..{hi}")
    return value


def _float(kw: dict, key: str, source: str, what: str, lo: float = -1e6, hi: float = 1e6) -> None:
    value = kw.get(key)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not lo <= value <= hi:
        raise _error(source, what, key, value, f"a finite number in {lo:g}..{hi:g}")


def _resolution(kw: dict, source: str, what: str, lo: int) -> int | None:
    res = kw.get("img_resolution")
    if res is None:
        return None
    if isinstance(res, bool) or not isinstance(res, int) or not lo <= res <= MAX_RESOLUTION or res & (res - 1):
        raise _error(source, what, "img_resolution", res, f"a power of two in {lo}..{MAX_RESOLUTION}")
    return res


def _channels(kw: dict, res: int | None, source: str, what: str) -> dict[int, int]:
    base = _int(kw, "channel_base", 1, MAX_CHANNEL_BASE, source, what, default=32768)
    cmax = _int(kw, "channel_max", 1, MAX_CHANNELS, source, what, default=512)
    if res is None:
        return {}
    channels = {r: min(base // r, cmax) for r in (2**i for i in range(2, int(math.log2(res)) + 1))}
    if min(channels.values()) < 1:
        raise _error(source, what, "channel_base", base, f"at least {res} (one feature map at {res} px)")
    return channels


def _mapping(mk, z_dim: int, w_dim: int, c_dim: int, source: str, what: str) -> int:
    """Checks the mapping kwargs; returns its parameter count."""
    if not isinstance(mk, dict):
        raise _error(source, what, "mapping_kwargs", type(mk).__name__, "a table of mapping settings")
    where = f"{what} mapping"
    layers = _int(mk, "num_layers", 0, MAX_MAPPING_LAYERS, source, where, default=8)
    features = _int(mk, "layer_features", 1, MAX_CHANNELS, source, where) or w_dim
    embed = _int(mk, "embed_features", 1, MAX_CHANNELS, source, where) or w_dim
    _float(mk, "lr_multiplier", source, where, 1e-8, 1e4)
    _float(mk, "w_avg_beta", source, where, 0.0, 1.0)
    _activation(mk, source, where)
    if z_dim == 0 and c_dim == 0 and layers > 0:
        raise _error(source, what, "z_dim", z_dim, "at least 1 (or c_dim > 0)")
    sizes = [z_dim + (embed if c_dim else 0)] + [features] * max(layers - 1, 0) + [w_dim]
    return c_dim * embed + sum(a * b for a, b in zip(sizes, sizes[1:]))


def _activation(kw: dict, source: str, what: str) -> None:
    act = kw.get("activation")
    if act is not None and act not in ACTIVATION_GAIN:
        raise _error(source, what, "activation", act, f"one of {sorted(ACTIVATION_GAIN)}")


def _parameters(count: int, source: str, what: str) -> None:
    if count > MAX_PARAMETERS:
        raise _error(source, what, "size", f"{count / 1e6:.0f} M parameters", f"at most {MAX_PARAMETERS / 1e6:.0f} M")


def check_generator_kwargs(kwargs, source: str) -> None:
    """CheckpointError unless Generator(**kwargs) is a sanely sized StyleGAN2 generator. Keys that are
    absent are not checked (the constructor reports them)."""
    what = "generator"
    if not isinstance(kwargs, dict):
        raise _error(source, what, "kwargs", type(kwargs).__name__, "a table of settings")
    z_dim = _int(kwargs, "z_dim", 0, MAX_CHANNELS, source, what) or 0
    w_dim = _int(kwargs, "w_dim", 1, MAX_CHANNELS, source, what) or 1
    c_dim = _int(kwargs, "c_dim", 0, MAX_C_DIM, source, what) or 0
    _int(kwargs, "img_channels", 1, MAX_IMG_CHANNELS, source, what)
    res = _resolution(kwargs, source, what, 4)
    sk = kwargs.get("synthesis_kwargs") or {}
    if not isinstance(sk, dict):
        raise _error(source, what, "synthesis_kwargs", type(sk).__name__, "a table of synthesis settings")
    channels = _channels(sk, res, source, f"{what} synthesis")
    _int(sk, "num_fp16_res", 0, 16, source, f"{what} synthesis")
    _float(sk, "conv_clamp", source, f"{what} synthesis", 0.0, 1e6)
    _activation(sk, source, f"{what} synthesis")
    filt = sk.get("resample_filter")
    if filt is not None and (not isinstance(filt, (list, tuple)) or len(filt) > 16):
        raise _error(source, what, "resample_filter", f"<{type(filt).__name__}>", "a list of at most 16 taps")
    count = _mapping(kwargs.get("mapping_kwargs") or {}, z_dim, w_dim, c_dim, source, what)
    for r, ch in channels.items():  # conv0 (from the previous block), conv1, toRGB, and their affines
        prev = channels.get(r // 2, 0)
        count += 9 * ch * (prev + ch) + w_dim * (prev + 2 * ch)
    _parameters(count, source, what)


def check_discriminator_kwargs(kwargs, source: str) -> None:
    """CheckpointError unless Discriminator(**kwargs) is a sanely sized StyleGAN2 discriminator."""
    what = "discriminator"
    if not isinstance(kwargs, dict):
        raise _error(source, what, "kwargs", type(kwargs).__name__, "a table of settings")
    c_dim = _int(kwargs, "c_dim", 0, MAX_C_DIM, source, what) or 0
    _int(kwargs, "img_channels", 1, MAX_IMG_CHANNELS, source, what)
    res = _resolution(kwargs, source, what, 8)
    channels = _channels(kwargs, res, source, what)
    _int(kwargs, "num_fp16_res", 0, 16, source, what)
    _float(kwargs, "conv_clamp", source, what, 0.0, 1e6)
    _int(kwargs, "mbstd_group_size", 1, 1024, source, what)
    _int(kwargs, "mbstd_num_channels", 0, 64, source, what)
    cmap = _int(kwargs, "cmap_dim", 0, MAX_CHANNELS, source, what) or 0
    count = 0
    if c_dim:
        count += _mapping(kwargs.get("mapping_kwargs") or {}, 0, max(cmap, 1), c_dim, source, what)
    for r, ch in channels.items():
        count += 9 * ch * ch * 2 + ch * ch
    if channels:
        count += (channels[4] + 1) * 16 * channels[4] * 9  # epilogue fc on the flattened 4x4 map
    _parameters(count, source, what)


# --- pickles that size their own allocations ------------------------------------------------

# Globals that torch's weights_only unpickler allows but that allocate whatever size the file asks
# for: `bytearray(3_000_000_000)` is 32 bytes of pickle. No model file needs them.
_SIZING_GLOBALS = {("builtins", "bytearray"), ("__builtin__", "bytearray")}


def refuse_sizing_globals(stream, source: str) -> None:
    """CheckpointError if the pickle(s) in the binary file `stream` call a global that allocates a size
    the file chooses. Reads the opcodes only; nothing is built."""
    import pickletools

    strings: list[str] = []
    for _ in range(4):  # a legacy torch.save is several pickles in a row (magic, protocol, info, data)
        pos = stream.tell()
        try:
            for op, arg, _ in pickletools.genops(stream):
                name = None
                if op.name in ("GLOBAL", "INST"):
                    name = tuple(str(arg).split(" ", 1))
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    name = (strings[-2], strings[-1])
                elif isinstance(arg, str):
                    strings.append(arg)
                    del strings[:-2]
                if name in _SIZING_GLOBALS:
                    raise CheckpointError(f"{source}: refused: the file calls {'.'.join(name)}, which allocates "
                                          "a size the file chooses; a model file never needs it")
        except CheckpointError:
            raise
        except Exception:  # noqa: BLE001 - raw storage bytes after the pickles, or garbage: the loader reports it
            return
        if stream.tell() == pos:
            return


def refuse_sizing_globals_in_file(path, source: str) -> None:
    """refuse_sizing_globals over a model file: a torch zip's pickled index(es), else the file itself."""
    import io
    import zipfile

    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                for name in z.namelist():
                    if name.endswith(".pkl"):
                        refuse_sizing_globals(io.BytesIO(z.read(name)), source)
            return
        with open(path, "rb") as f:
            refuse_sizing_globals(f, source)
    except (OSError, zipfile.BadZipFile, RuntimeError):
        return  # the loader reports an unreadable file with its own message


def check_kwargs(cls, kwargs, source: str) -> None:
    """CheckpointError naming the file and key unless cls(**kwargs) is a sanely sized network."""
    (check_generator_kwargs if cls is Generator else check_discriminator_kwargs)(kwargs, source)


def check_finite(state: dict, source: str, what: str) -> None:
    """CheckpointError naming the first tensor with NaN or Inf (a model that would draw black frames)."""
    for name, t in state.items():
        if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{source}: {what} weight {name!r} has non-finite values (NaN or Inf); "
                                  "the model is broken")
