"""NVlabs StyleGAN2 snapshots (.pkl) read without NVlabs' code and without running anything from the file.

An NVlabs snapshot (stylegan2-ada-pytorch, or a StyleGAN2 config trained with the stylegan3
repository) is a plain pickle of {"G", "D", "G_ema", "augment_pipe", "training_set_kwargs"}. Each
network is a `torch_utils.persistence` object, pickled as a call
`_reconstruct_persistent_obj(meta)` with meta = {type: "class", version, module_src: the SOURCE CODE
of the module that defined the class, class_name, state: the nn.Module's __dict__}. NVlabs' loader
exec()s module_src. We never do: that call becomes a plain `PersistentRecord`, tensors are rebuilt
by torch's own functions (their storages through `torch.load(weights_only=True)`), and any other
global the file names is refused with an error that names it, before anything is called.

From G_ema's record (and D's) we read the architecture from the layers' own attributes and weight
shapes, build our Generator / Discriminator and copy every tensor by name: NVlabs' parameter and
buffer names are ours.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import collections
import io
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from installation.models.formats import (
    CheckpointError,
    build_from_state,
    channel_config,
    unconditional_discriminator,
    unconditional_generator,
)
from installation.models.limits import check_discriminator_kwargs, check_generator_kwargs, refuse_sizing_globals
from installation.models.ops import ACTIVATION_GAIN, setup_filter
from installation.models.stylegan2 import Discriminator, Generator

_MISSING = object()


class UnsafePickleError(CheckpointError):
    """The pickle names something outside the allow-list; nothing from it was run."""


# --- what a persistent object becomes -------------------------------------------------------


@dataclass
class PersistentRecord:
    """An NVlabs persistent object, as data. `module_src` is kept as text and never executed."""

    class_name: str
    module_src: str
    state: dict
    version: Any = None

    def attr(self, name: str, default=_MISSING):
        if name in self.state:
            return self.state[name]
        if default is _MISSING:
            raise KeyError(name)
        return default

    @property
    def children(self) -> dict:
        return dict(self.state.get("_modules") or {})

    def child(self, name: str) -> PersistentRecord | None:
        return self.children.get(name)

    @property
    def init_kwargs(self) -> dict:
        return _plain(self.state.get("_init_kwargs") or {})

    def own_tensors(self) -> dict[str, torch.Tensor]:
        """This object's parameters and persistent buffers (frozen layers keep weights as buffers)."""
        skip = set(self.state.get("_non_persistent_buffers_set") or ())
        out = {}
        for group in ("_parameters", "_buffers"):
            for name, t in (self.state.get(group) or {}).items():
                if t is not None and name not in skip:
                    out[name] = t.detach() if isinstance(t, torch.Tensor) else t
        return out

    def tensors(self, source: str = "", prefix: str = "") -> dict[str, torch.Tensor]:
        """Every tensor below this object, keyed like nn.Module.state_dict()."""
        out = {prefix + k: v for k, v in self.own_tensors().items()}
        for name, child in self.children.items():
            if child is None:
                continue
            if not isinstance(child, PersistentRecord):
                raise CheckpointError(f"{source}: layer {prefix + name!r} is a {type(child).__name__}, "
                                      "not an NVlabs network layer")
            out.update(child.tensors(source, prefix + name + "."))
        for key, value in out.items():
            if not isinstance(value, torch.Tensor):
                raise CheckpointError(f"{source}: {key!r} is a {type(value).__name__}, expected a tensor")
        return out


def _reconstruct_persistent_obj(meta) -> PersistentRecord:
    """Stands in for torch_utils.persistence._reconstruct_persistent_obj: returns data, runs nothing."""
    if not isinstance(meta, dict) or not isinstance(meta.get("class_name"), str):
        raise UnsafePickleError("a persistent object without a class name (not an NVlabs network pickle)")
    state = meta.get("state")
    if state is None:
        state = {}
    if not isinstance(state, dict):
        raise UnsafePickleError(f"persistent object {meta['class_name']!r} has a {type(state).__name__} state, "
                                "expected a dict")
    src = meta.get("module_src")
    return PersistentRecord(class_name=meta["class_name"], module_src=src if isinstance(src, str) else "",
                            state=state, version=meta.get("version"))


class _EasyDict(dict):
    """dnnlib.util.EasyDict as a plain dict (its attribute access is not needed here)."""

    def __setstate__(self, state):  # EasyDict keeps everything in the items; any __dict__ state is dropped
        pass


def _plain(value):
    """EasyDicts, numpy scalars and tuples -> plain dict / int / float / list (weights_only-friendly)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


# --- the allow-list unpickler ---------------------------------------------------------------


def _load_storage_from_bytes(data: bytes):
    """torch.storage._load_from_bytes, but weights_only: a storage is torch.save bytes of its own."""
    if not isinstance(data, (bytes, bytearray)):
        raise UnsafePickleError("a tensor storage that is not bytes")
    refuse_sizing_globals(io.BytesIO(bytes(data)), "a tensor storage")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TypedStorage deprecation notices
        return torch.load(io.BytesIO(bytes(data)), map_location="cpu", weights_only=True)


def _numpy_attr(module_suffix: str, name: str):
    core = getattr(np, "_core", None) or np.core  # numpy 2 renamed numpy.core -> numpy._core
    return getattr(getattr(core, module_suffix), name)


# Allow-listed constructors are called with the file's arguments: never with a size the file chooses.
# (A 32-byte pickle can ask for bytearray(3_000_000_000).)
MAX_PICKLED_ARRAY_BYTES = 1 << 28


def _bytearray(*args):
    if not args or not isinstance(args[0], (bytes, bytearray, str)) or len(args) > 2:
        raise UnsafePickleError("refused bytearray() of something other than bytes (it would allocate a size the "
                                "file chooses)")
    return bytearray(*args)


def _latin1_encode(obj, encoding="utf-8", errors="strict"):
    if not isinstance(obj, str) or str(encoding).lower().replace("_", "-") not in ("latin1", "latin-1"):
        raise UnsafePickleError(f"refused _codecs.encode(..., {encoding!r}): only latin1 text is pickled data")
    return codecs.encode(obj, "latin1")


def _dtype(*args, **kwargs):
    dt = np.dtype(*args, **kwargs)
    if dt.itemsize > 64:
        raise UnsafePickleError(f"refused a numpy dtype of {dt.itemsize} bytes per item")
    return dt


class _Ndarray(np.ndarray):
    """numpy.ndarray as the unpickler sees it: `_reconstruct` takes it as the array class (we pass numpy's
    own), and calling it directly is refused above a small size."""

    def __new__(cls, shape, dtype=float, *args, **kwargs):
        _check_array_size(shape, dtype)
        return np.ndarray(shape, dtype, *args, **kwargs)


def _check_array_size(shape, dtype) -> None:
    dims = shape if isinstance(shape, (tuple, list)) else (shape,)
    if not all(isinstance(d, (int, np.integer)) and 0 <= d for d in dims):
        raise UnsafePickleError(f"refused a numpy array of shape {shape!r}")
    n = int(np.prod([int(d) for d in dims], dtype=object)) if dims else 1
    if n * _dtype(dtype).itemsize > MAX_PICKLED_ARRAY_BYTES:
        raise UnsafePickleError(f"refused a numpy array of shape {tuple(dims)} (larger than the file could hold)")


def _reconstruct(subtype, shape, dtype):
    # numpy pickles an array as _reconstruct(ndarray, (0,), b'b') + __setstate__(data): the size comes from data.
    if subtype is not _Ndarray:
        raise UnsafePickleError(f"refused numpy _reconstruct of {getattr(subtype, '__name__', subtype)!r}")
    _check_array_size(shape, np.uint8)
    return _numpy_attr("multiarray", "_reconstruct")(np.ndarray, shape, dtype)


def _allowed_globals() -> dict[tuple[str, str], Any]:
    allowed = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "bytearray"): _bytearray,
        ("builtins", "complex"): complex,
        ("builtins", "slice"): slice,
        ("_codecs", "encode"): _latin1_encode,  # protocol 2 writes bytes as encode(str, "latin1"); pure data
        ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): torch._utils._rebuild_parameter_with_state,
        ("torch._tensor", "_rebuild_from_type_v2"): torch._tensor._rebuild_from_type_v2,
        ("torch", "Tensor"): torch.Tensor,
        ("torch.nn.parameter", "Parameter"): torch.nn.Parameter,
        ("torch", "Size"): torch.Size,
        ("torch", "device"): torch.device,
        ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
        ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
        ("dnnlib.util", "EasyDict"): _EasyDict,
        ("dnnlib", "EasyDict"): _EasyDict,
        ("numpy", "dtype"): _dtype,
        ("numpy", "ndarray"): _Ndarray,
    }
    for core in ("numpy.core", "numpy._core"):  # numpy 1 and 2 pickle under different names
        allowed[(f"{core}.multiarray", "scalar")] = _numpy_attr("multiarray", "scalar")
        allowed[(f"{core}.multiarray", "_reconstruct")] = _reconstruct
        allowed[(f"{core}.numeric", "_frombuffer")] = _numpy_attr("numeric", "_frombuffer")
    return allowed


_ALLOWED = _allowed_globals()


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only what an NVlabs StyleGAN2 snapshot is made of; refuses every other global."""

    def find_class(self, module: str, name: str):
        # Protocols < 3 name Python 2 modules (__builtin__.set); map them back as pickle itself does.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        found = _ALLOWED.get((module, name))
        if found is not None:
            return found
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype):
            return getattr(torch, name)
        if (module, name) == ("dnnlib.tflib.network", "Network"):
            raise UnsafePickleError("this is a TensorFlow StyleGAN/StyleGAN2 pickle (dnnlib.tflib.network.Network); "
                                    "only PyTorch snapshots (stylegan2-ada-pytorch, stylegan3 repository) are "
                                    "supported yet")
        raise UnsafePickleError(f"refused to load '{module}.{name}': it is not part of an NVlabs StyleGAN2 "
                                "snapshot (the file may carry code; nothing from it was run)")

    def persistent_load(self, pid):
        raise UnsafePickleError("the pickle uses persistent ids; an NVlabs snapshot is a plain pickle")


def read_nvlabs_pickle(path) -> Any:
    """Unpickle an NVlabs snapshot safely: networks become PersistentRecords, tensors are tensors."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        with open(path, "rb") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return RestrictedUnpickler(f).load()
    except UnsafePickleError as e:
        raise UnsafePickleError(f"{path}: {e}") from None
    except CheckpointError:
        raise
    except Exception as e:  # truncated file, garbage, a storage torch cannot read, ...
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{path}: not a readable NVlabs pickle ({type(e).__name__}: {first})") from e


# --- records -> our networks ----------------------------------------------------------------


def _int(value, source: str, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        raise CheckpointError(f"{source}: {what} is {value!r}, expected an integer") from None


def _need(rec: PersistentRecord | None, name: str, source: str, where: str) -> PersistentRecord:
    child = rec.child(name) if rec is not None else None
    if not isinstance(child, PersistentRecord):
        raise CheckpointError(f"{source}: {where} has no layer {name!r}; not a StyleGAN2 network")
    return child


def _value(rec: PersistentRecord, name: str, source: str, where: str, kwargs: dict | None = None):
    """An attribute of the object, else its init kwarg: the values it really used, whatever the defaults."""
    value = rec.attr(name, None)
    if value is None and kwargs:
        value = kwargs.get(name)
    if value is None:
        raise CheckpointError(f"{source}: {where} does not say its {name!r}")
    return _plain(value)


def _weight_shape(rec: PersistentRecord, source: str, where: str) -> list[int]:
    w = rec.own_tensors().get("weight")
    if not isinstance(w, torch.Tensor):
        raise CheckpointError(f"{source}: {where} has no weight tensor")
    return list(w.shape)


def _check_activation(act, source: str, where: str) -> str:
    if act not in ACTIVATION_GAIN:
        raise CheckpointError(f"{source}: {where} uses activation {act!r}; "
                              f"only {sorted(ACTIVATION_GAIN)} are supported")
    return act


def _mapping_kwargs(mapping: PersistentRecord, w_dim: int, c_dim: int, source: str, where: str) -> dict:
    kw = mapping.init_kwargs
    num_layers = _int(_value(mapping, "num_layers", source, where, kw), source, f"{where} num_layers")
    out = {"num_layers": num_layers}
    if num_layers > 0:
        fc0 = _need(mapping, "fc0", source, where)
        # NVlabs' FullyConnectedLayer keeps its lr multiplier as bias_gain.
        lr = _value(fc0, "bias_gain", source, f"{where}.fc0", {"bias_gain": kw.get("lr_multiplier")})
        out["lr_multiplier"] = float(lr)
        out["activation"] = _check_activation(fc0.attr("activation", kw.get("activation", "lrelu")), source, where)
        if num_layers > 1:
            layer_features = _weight_shape(fc0, source, f"{where}.fc0")[0]
            if layer_features != w_dim:
                out["layer_features"] = layer_features
    if c_dim > 0:
        embed_features = _weight_shape(_need(mapping, "embed", source, where), source, f"{where}.embed")[0]
        if embed_features != w_dim:
            out["embed_features"] = embed_features
    return out


def _filter_kwarg(block: PersistentRecord) -> list | None:
    """The FIR filter if it is not NVlabs' default [1, 3, 3, 1] (then our constructor needs it)."""
    f = block.own_tensors().get("resample_filter")
    if f is None:
        return None
    default = setup_filter((1, 3, 3, 1))
    if f.shape == default.shape and torch.allclose(f.float(), default, atol=1e-6):
        return None
    return f.float().tolist()


def _reject_stylegan3(G: PersistentRecord, source: str) -> None:
    synthesis = G.child("synthesis")
    if isinstance(synthesis, PersistentRecord) and (
        "input" in synthesis.children or any(
            isinstance(c, PersistentRecord) and c.class_name == "SynthesisInput" for c in synthesis.children.values())
    ):
        raise CheckpointError(f"{source}: this is a StyleGAN3 model (its synthesis network has an 'input' layer); "
                              "StyleGAN3 models are not supported yet, only StyleGAN2 (including the stylegan2 "
                              "config of the stylegan3 repository)")


def generator_kwargs(G: PersistentRecord, source: str) -> dict:
    """Our Generator's init kwargs, from the layers' own attributes and weight shapes."""
    _reject_stylegan3(G, source)
    top = G.init_kwargs
    names = ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")
    dims = {k: _int(_value(G, k, source, "G", top), source, f"G {k}") for k in names}
    check_generator_kwargs(dims, source)  # before any size is used
    mapping = _need(G, "mapping", source, "G")
    synthesis = _need(G, "synthesis", source, "G")
    res_log2 = int(np.log2(dims["img_resolution"]))
    resolutions = [2**i for i in range(2, res_log2 + 1)]
    blocks = {res: _need(synthesis, f"b{res}", source, "G.synthesis") for res in resolutions}
    for res, block in blocks.items():
        arch = block.attr("architecture", "skip")
        if arch != "skip":
            raise CheckpointError(f"{source}: generator architecture {arch!r} (block b{res}) is not supported; "
                                  "only NVlabs' default 'skip'")
    layers = {res: _need(block, "conv1", source, f"G.synthesis.b{res}") for res, block in blocks.items()}
    channels = {res: _weight_shape(layer, source, f"G.synthesis.b{res}.conv1")[0] for res, layer in layers.items()}

    # Where the file's kwargs name the channel layout, prefer them (G's nested or stylegan3's flat).
    skw = {**synthesis.init_kwargs, **(top.get("synthesis_kwargs") or {})}
    hint = (skw.get("channel_base", top.get("channel_base")), skw.get("channel_max", top.get("channel_max")))
    channel_base, channel_max = channel_config(channels, source, hint)
    first = layers[4]
    synthesis_kwargs = dict(
        channel_base=channel_base,
        channel_max=channel_max,
        num_fp16_res=sum(bool(block.attr("use_fp16", False)) for block in blocks.values()),
        conv_clamp=_plain(first.attr("conv_clamp", None)),
    )
    if not first.attr("use_noise", True):
        synthesis_kwargs["use_noise"] = False
    activation = _check_activation(first.attr("activation", "lrelu"), source, "G.synthesis")
    if activation != "lrelu":
        synthesis_kwargs["activation"] = activation
    resample_filter = _filter_kwarg(blocks[4])
    if resample_filter is not None:
        synthesis_kwargs["resample_filter"] = resample_filter

    mapping_kwargs = _mapping_kwargs(mapping, dims["w_dim"], dims["c_dim"], source, "G.mapping")
    beta = mapping.attr("w_avg_beta", (mapping.init_kwargs or {}).get("w_avg_beta", 0.995))
    mapping_kwargs["w_avg_beta"] = _plain(beta)
    return dict(**dims, mapping_kwargs=mapping_kwargs, synthesis_kwargs=synthesis_kwargs)


def discriminator_kwargs(D: PersistentRecord, source: str) -> dict:
    """Our Discriminator's init kwargs, from the layers' own attributes and weight shapes."""
    top = D.init_kwargs
    dims = {k: _int(_value(D, k, source, "D", top), source, f"D {k}") for k in ("c_dim", "img_resolution", "img_channels")}
    check_discriminator_kwargs(dims, source)
    res_log2 = int(np.log2(dims["img_resolution"]))
    resolutions = [2**i for i in range(res_log2, 2, -1)]
    blocks = {res: _need(D, f"b{res}", source, "D") for res in resolutions}
    epilogue = _need(D, "b4", source, "D")
    for where, rec in [*((f"b{r}", b) for r, b in blocks.items()), ("b4", epilogue)]:
        arch = rec.attr("architecture", "resnet")
        if arch != "resnet":
            raise CheckpointError(f"{source}: discriminator architecture {arch!r} ({where}) is not supported; "
                                  "only NVlabs' default 'resnet'")
    convs = {res: _need(block, "conv0", source, f"D.b{res}") for res, block in blocks.items()}
    channels = {res: _weight_shape(conv, source, f"D.b{res}.conv0")[0] for res, conv in convs.items()}
    channels[4] = _weight_shape(_need(epilogue, "conv", source, "D.b4"), source, "D.b4.conv")[0]
    channel_base, channel_max = channel_config(channels, source, (top.get("channel_base"), top.get("channel_max")))
    first = convs[dims["img_resolution"]]
    if first.attr("activation", "lrelu") != "lrelu":
        raise CheckpointError(f"{source}: discriminator activation {first.attr('activation')!r} is not supported; "
                              "only 'lrelu'")
    kwargs = dict(
        **dims,
        channel_base=channel_base,
        channel_max=channel_max,
        num_fp16_res=sum(bool(block.attr("use_fp16", False)) for block in blocks.values()),
        conv_clamp=_plain(first.attr("conv_clamp", None)),
    )
    mbstd = epilogue.child("mbstd")
    if isinstance(mbstd, PersistentRecord):
        kwargs["mbstd_group_size"] = _plain(mbstd.attr("group_size", 4))
        kwargs["mbstd_num_channels"] = int(_plain(mbstd.attr("num_channels", 1)))
    else:
        kwargs["mbstd_num_channels"] = 0
    if dims["c_dim"] > 0:
        kwargs["cmap_dim"] = int(_plain(epilogue.attr("cmap_dim")))
        mapping = _need(D, "mapping", source, "D")
        kwargs["mapping_kwargs"] = _mapping_kwargs(mapping, kwargs["cmap_dim"], dims["c_dim"], source, "D.mapping")
    return kwargs


def generator_from_record(G: PersistentRecord, source: str, class_index: int = 0) -> tuple[Generator, list[str]]:
    """Our Generator with every weight of the NVlabs one (conditional: folded to `class_index`)."""
    if not isinstance(G, PersistentRecord):
        raise CheckpointError(f"{source}: G_ema is a {type(G).__name__}, not an NVlabs network")
    net = build_from_state(Generator, generator_kwargs(G, source), G.tensors(source), source, "generator")
    notes = []
    if net.c_dim > 0:
        net = unconditional_generator(net, class_index)
        notes.append(f"conditional model with {_plain(G.attr('c_dim'))} classes: playing class {class_index} "
                     "(choose another with `installation convert --class N`)")
    return net, notes


def discriminator_from_record(D: PersistentRecord, source: str, class_index: int = 0) -> Discriminator:
    if not isinstance(D, PersistentRecord):
        raise CheckpointError(f"{source}: D is a {type(D).__name__}, not an NVlabs network")
    net = build_from_state(Discriminator, discriminator_kwargs(D, source), D.tensors(source), source, "discriminator")
    return unconditional_discriminator(net, class_index) if net.c_dim > 0 else net


def load_nvlabs(path, class_index: int = 0, discriminator: bool = True):
    """(G_ema, D or None, notes) from an NVlabs snapshot, as our networks on the CPU."""
    source = str(path)
    data = read_nvlabs_pickle(path)
    if not isinstance(data, dict) or "G_ema" not in data:
        keys = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(f"{source}: expected an NVlabs snapshot (a dict with 'G_ema'), found {keys}")
    G, notes = generator_from_record(data["G_ema"], source, class_index)
    D = None
    if discriminator and data.get("D") is not None:
        D = discriminator_from_record(data["D"], source, class_index)
    return G, D, notes
