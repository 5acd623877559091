"""What every model file reader shares: the error type, recognising a file, the channel layout,
a strict weight copy, and folding a conditional model into an unconditional one.

Import direction in models/: errors and limits (leaves) -> formats (this, nvlabs_pickle,
rosinality) -> loaders (convert) -> checkpoint (our format, and the entry points everything else
calls). Nothing here imports upwards.

Conditional models (c_dim > 0) are played as ONE class, chosen when the file is loaded or converted
(default class 0, `installation convert --class N`): the class embedding is folded into the first
mapping layer's bias (and the discriminator's projection into its output layer), which gives the
same pixels as NVlabs' generator with a one-hot label, and an ordinary unconditional network that
every part of the show can drive.
"""

from __future__ import annotations

import copy
import math
import zipfile
from pathlib import Path

import torch

from installation.models.errors import CheckpointError, load_error_reason  # noqa: F401 - the readers' names
from installation.models.limits import check_finite, check_kwargs
from installation.models.ops import normalize_2nd_moment
from installation.models.stylegan2 import Discriminator, Generator, channels_for

NVLABS = "nvlabs"
ROSINALITY = "rosinality"
# torch.save's legacy (pre-zip) format starts with this number, pickled (protocol 2, LONG1).
_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


# --- recognising a file ---------------------------------------------------------------------


def foreign_format(path) -> str | None:
    """"nvlabs" (a pickle), "rosinality" (a torch file with 'g_ema'), or None: ours, or not a model
    we recognise (our own loader then gives its error). Reads only the file's header / index."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(len(_TORCH_LEGACY_MAGIC))
    except OSError:
        return None
    if head.startswith(b"PK\x03\x04"):  # torch.save zip: look at the pickled index only
        try:
            with zipfile.ZipFile(path) as z:
                index = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
                raw = z.read(index) if index else b""
        except (zipfile.BadZipFile, OSError):
            return None
        if b"installation.stylegan2" in raw:
            return None
        return ROSINALITY if b"g_ema" in raw else None
    if head.startswith(_TORCH_LEGACY_MAGIC):  # old torch.save: only rosinality writes these here
        return ROSINALITY
    if head[:1] == b"\x80":  # a plain pickle (protocol 2+): NVlabs snapshot
        return NVLABS
    return None


# --- shared by the readers ------------------------------------------------------------------


def channel_config(channels: dict[int, int], source: str, hint: tuple | None = None) -> tuple[int, int]:
    """(channel_base, channel_max) that reproduce `channels` {res: feature maps} with our rule
    min(channel_base // res, channel_max); the file's own values (`hint`) first."""
    candidates = []
    if hint is not None and None not in hint:
        candidates.append((int(hint[0]), int(hint[1])))
    top = max(channels.values())
    candidates += [(32768, top), (16384, top), (top * max(channels), top)]
    candidates += [(ch * res, top) for res, ch in channels.items() if ch < top]
    for base, cmax in candidates:
        if all(channels_for(res, base, cmax) == ch for res, ch in channels.items()):
            return base, cmax
    layout = ", ".join(f"{r}:{c}" for r, c in sorted(channels.items()))
    raise CheckpointError(f"{source}: channel layout {{{layout}}} cannot be expressed as "
                          "min(channel_base // res, channel_max); this network is not supported")


def build_from_state(cls, kwargs: dict, state: dict, source: str, what: str):
    """cls(**kwargs) with every weight taken from `state`, strictly: a missing, extra or
    mis-shaped tensor is an error naming the key. Eval mode, no grads, on the CPU."""
    check_kwargs(cls, kwargs, source)
    check_finite(state, source, what)
    try:
        net = cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{source}: cannot build the {what} from {kwargs}: {e}") from e
    ours = net.state_dict()
    missing = [k for k in ours if k not in state]
    extra = [k for k in state if k not in ours]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {_some(missing)}")
        if extra:
            parts.append(f"unexpected {_some(extra)}")
        raise CheckpointError(f"{source}: the {what}'s weights do not match a StyleGAN2 {what} "
                              f"with {kwargs}: {'; '.join(parts)}")
    for key, mine in ours.items():
        if tuple(state[key].shape) != tuple(mine.shape):
            raise CheckpointError(f"{source}: {what} weight {key!r} has shape {list(state[key].shape)}, "
                                  f"expected {list(mine.shape)}")
    net.load_state_dict({k: state[k].detach().to(ours[k].dtype) for k in ours}, strict=True)
    return net.eval().requires_grad_(False)


def _some(keys: list[str], n: int = 6) -> str:
    return ", ".join(repr(k) for k in keys[:n]) + (f" (+{len(keys) - n} more)" if len(keys) > n else "")


# --- conditional -> unconditional for one class ---------------------------------------------


def _one_hot(class_index: int, c_dim: int, what: str) -> torch.Tensor:
    if not 0 <= class_index < c_dim:
        raise CheckpointError(f"{what}: class {class_index} does not exist; this conditional model has "
                              f"classes 0..{c_dim - 1}")
    c = torch.zeros([1, c_dim])
    c[0, class_index] = 1
    return c  # [1, c_dim]


@torch.no_grad()
def unconditional_generator(G: Generator, class_index: int = 0) -> Generator:
    """The same generator with its label fixed to one-hot(class_index), as an unconditional network.

    fc0 sees cat(norm(z), norm(embed(c))); with c fixed the second half is a constant whose
    contribution moves into fc0's bias. fc0's weight gain depends on its fan-in, hence the rescale.
    """
    if G.c_dim == 0:
        return G
    kwargs = copy.deepcopy(G.init_kwargs)
    kwargs["c_dim"] = 0
    kwargs["mapping_kwargs"].pop("embed_features", None)
    out = Generator(**kwargs)
    fc0, new_fc0 = G.mapping.fc0, out.mapping.fc0
    y = normalize_2nd_moment(G.mapping.embed(_one_hot(class_index, G.c_dim, "generator")))[0]  # [embed]
    weight = fc0.weight  # [out, z_dim + embed]
    state = {k: v for k, v in G.state_dict().items() if not k.startswith("mapping.embed.")}
    state["mapping.fc0.weight"] = weight[:, :G.z_dim] * (fc0.weight_gain / new_fc0.weight_gain)
    state["mapping.fc0.bias"] = fc0.bias + (weight[:, G.z_dim:] * fc0.weight_gain) @ y / fc0.bias_gain
    out.load_state_dict(state, strict=True)
    return out.eval().requires_grad_(False)


@torch.no_grad()
def unconditional_discriminator(D: Discriminator, class_index: int = 0) -> Discriminator:
    """The same discriminator judging as class `class_index`: the projection onto the label's
    embedding (cmap) becomes the weights of a single-output `out` layer."""
    if D.c_dim == 0:
        return D
    kwargs = copy.deepcopy(D.init_kwargs)
    kwargs.update(c_dim=0, cmap_dim=None, mapping_kwargs={})
    out = Discriminator(**kwargs)
    cmap = D.mapping(None, _one_hot(class_index, D.c_dim, "discriminator"))[0]  # [cmap_dim]
    old, new = D.b4.out, out.b4.out
    scale = 1 / math.sqrt(D.b4.cmap_dim)
    state = {k: v for k, v in D.state_dict().items() if not k.startswith("mapping.")}
    state["b4.out.weight"] = (cmap @ (old.weight * old.weight_gain))[None] * scale / new.weight_gain  # [1, C4]
    state["b4.out.bias"] = (cmap @ (old.bias * old.bias_gain))[None] * scale / new.bias_gain  # [1]
    out.load_state_dict(state, strict=True)
    return out.eval().requires_grad_(False)
