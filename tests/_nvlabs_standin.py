"""Writes NVlabs-shaped StyleGAN2 pickles for the tests, without NVlabs' code (and without ours).

NVlabs pickles every network as a call `torch_utils.persistence._reconstruct_persistent_obj(meta)`,
meta = {type, version, module_src, class_name, state}, where state is the nn.Module's __dict__
(`_parameters`, `_buffers`, `_modules`, plain attributes, `_init_kwargs` as EasyDicts). The stand-ins
here reduce to exactly that. The modules the pickle names (torch_utils.persistence, dnnlib.util)
exist in sys.modules only while a pickle is WRITTEN (pickle checks a global can be found), so
nothing from the tests is around when the loader reads the file.

The weights are random, named and shaped as in NVlabs' training/networks.py, built here from the
hyper-parameters alone (not from our networks), so the loader is tested against an outside shape.
"""

from __future__ import annotations

import contextlib
import math
import pickle
import sys
import types
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

# What NVlabs stores as module_src. If the loader ever exec()ed it, the marker file would appear.
def module_src_that_marks(marker_path) -> str:
    return f"open({str(marker_path)!r}, 'w').write('module_src was executed')\n"


class EasyDict(dict):
    """Mimics dnnlib.util.EasyDict (pickled under that name while writing)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        self[name] = value


def _reconstruct_persistent_obj(meta):  # only its NAME goes into the pickle
    raise AssertionError("the test stand-in must never be called by the loader")


class Persistent:
    """Reduces like an NVlabs persistent_class instance."""

    def __init__(self, class_name: str, state: dict, module_src: str):
        self.class_name = class_name
        self.state = state
        self.module_src = module_src

    def __reduce__(self):
        meta = dict(type="class", version=6, module_src=self.module_src, class_name=self.class_name, state=self.state)
        return (_reconstruct_persistent_obj, (meta,))


@contextlib.contextmanager
def nvlabs_names_importable():
    """torch_utils.persistence and dnnlib.util in sys.modules, only for the duration of a dump."""
    names = ("torch_utils", "torch_utils.persistence", "dnnlib", "dnnlib.util")
    assert not any(n in sys.modules for n in names), "fake NVlabs modules already present"
    mods = {n: types.ModuleType(n) for n in names}
    mods["torch_utils.persistence"]._reconstruct_persistent_obj = _reconstruct_persistent_obj
    mods["dnnlib.util"].EasyDict = EasyDict
    saved = (_reconstruct_persistent_obj.__module__, _reconstruct_persistent_obj.__qualname__,
             EasyDict.__module__, EasyDict.__qualname__)
    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    EasyDict.__module__ = "dnnlib.util"
    sys.modules.update(mods)
    try:
        yield
    finally:
        for n in names:
            sys.modules.pop(n, None)
        _reconstruct_persistent_obj.__module__, _, EasyDict.__module__, _ = saved


def write_pickle(path, obj, protocol: int = 4) -> None:
    with nvlabs_names_importable(), open(path, "wb") as f:
        pickle.dump(obj, f, protocol=protocol)


# --- building the module tree ---------------------------------------------------------------


def _module(class_name, src, params=(), buffers=(), children=(), attrs=None, init_kwargs=None):
    """The __dict__ of an nn.Module as NVlabs pickles it."""
    state = dict(
        training=False,
        _parameters=OrderedDict((k, torch.nn.Parameter(v, requires_grad=False) if v is not None else None)
                                for k, v in dict(params).items()),
        _buffers=OrderedDict(buffers),
        _non_persistent_buffers_set=set(),
        _backward_hooks=OrderedDict(),
        _forward_hooks=OrderedDict(),
        _forward_pre_hooks=OrderedDict(),
        _state_dict_hooks=OrderedDict(),
        _load_state_dict_pre_hooks=OrderedDict(),
        _modules=OrderedDict(children),
    )
    state.update(attrs or {})
    state["_init_args"] = ()
    state["_init_kwargs"] = EasyDict(init_kwargs or {})
    return Persistent(class_name, state, src)


def fir_filter() -> torch.Tensor:
    f = torch.tensor([1.0, 3.0, 3.0, 1.0])
    f = torch.outer(f, f)
    return f / f.sum()  # [4, 4]


@dataclass
class GenSpec:
    z_dim: int = 8
    w_dim: int = 8
    c_dim: int = 0
    img_resolution: int = 16
    img_channels: int = 3
    channel_base: int = 64
    channel_max: int = 8
    num_map: int = 2
    lr_mul: float = 0.01
    conv_clamp: float | None = None
    num_fp16_res: int = 0
    stylegan3_repo: bool = False  # synthesis kwargs flattened into G's init kwargs, as the stylegan3 repo does

    def channels(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)

    @property
    def resolutions(self) -> list[int]:
        return [2**i for i in range(2, int(math.log2(self.img_resolution)) + 1)]


class _Rand:
    def __init__(self, seed: int):
        self.g = torch.Generator().manual_seed(seed)

    def __call__(self, *shape, scale=1.0, shift=0.0):
        return torch.randn(list(shape), generator=self.g) * scale + shift


def _fc(raw, key, rnd, in_f, out_f, lr, act, src):
    raw[f"{key}.weight"] = rnd(out_f, in_f, scale=1 / lr)
    raw[f"{key}.bias"] = rnd(out_f, scale=0.1 / lr)
    attrs = dict(activation=act, weight_gain=np.float64(lr / np.sqrt(in_f)), bias_gain=lr)
    return _module("FullyConnectedLayer", src, params=[("weight", raw[f"{key}.weight"]), ("bias", raw[f"{key}.bias"])],
                   attrs=attrs, init_kwargs=dict(in_features=in_f, out_features=out_f, activation=act, lr_multiplier=lr))


def _affine(raw, key, rnd, w_dim, in_c, src):
    raw[f"{key}.weight"] = rnd(in_c, w_dim)
    raw[f"{key}.bias"] = rnd(in_c, scale=0.2, shift=1.0)  # bias_init=1, trained a little
    return _module("FullyConnectedLayer", src, params=[("weight", raw[f"{key}.weight"]), ("bias", raw[f"{key}.bias"])],
                   attrs=dict(activation="linear", weight_gain=np.float64(1 / np.sqrt(w_dim)), bias_gain=1),
                   init_kwargs=dict(in_features=w_dim, out_features=in_c, bias_init=1))


def _synthesis_layer(raw, key, rnd, spec, in_c, out_c, res, up, src):
    affine = _affine(raw, f"{key}.affine", rnd, spec.w_dim, in_c, src)
    raw[f"{key}.weight"] = rnd(out_c, in_c, 3, 3)
    raw[f"{key}.bias"] = rnd(out_c, scale=0.2)
    raw[f"{key}.noise_strength"] = rnd(scale=0.3).reshape([])
    raw[f"{key}.noise_const"] = rnd(res, res)
    raw[f"{key}.resample_filter"] = fir_filter()
    attrs = dict(resolution=res, up=up, use_noise=True, activation="lrelu", conv_clamp=spec.conv_clamp, padding=1,
                 act_gain=np.float64(np.sqrt(2)))
    if spec.stylegan3_repo:
        attrs.update(in_channels=in_c, out_channels=out_c, w_dim=spec.w_dim)
    return _module("SynthesisLayer", src,
                   params=[("weight", raw[f"{key}.weight"]), ("noise_strength", raw[f"{key}.noise_strength"]),
                           ("bias", raw[f"{key}.bias"])],
                   buffers=[("resample_filter", raw[f"{key}.resample_filter"]), ("noise_const", raw[f"{key}.noise_const"])],
                   children=[("affine", affine)], attrs=attrs,
                   init_kwargs=dict(in_channels=in_c, out_channels=out_c, w_dim=spec.w_dim, resolution=res, up=up))


def _torgb(raw, key, rnd, spec, in_c, src):
    affine = _affine(raw, f"{key}.affine", rnd, spec.w_dim, in_c, src)
    raw[f"{key}.weight"] = rnd(spec.img_channels, in_c, 1, 1)
    raw[f"{key}.bias"] = rnd(spec.img_channels, scale=0.2)
    return _module("ToRGBLayer", src, params=[("weight", raw[f"{key}.weight"]), ("bias", raw[f"{key}.bias"])],
                   children=[("affine", affine)],
                   attrs=dict(conv_clamp=spec.conv_clamp, weight_gain=np.float64(1 / np.sqrt(in_c))))


def nvlabs_generator(spec: GenSpec, seed: int = 0, src: str = "# networks.py source\n", synthesis_extra=None):
    """(stand-in G, {NVlabs key: tensor}) with random weights."""
    rnd = _Rand(seed)
    raw: dict[str, torch.Tensor] = {}
    log2 = int(math.log2(spec.img_resolution))
    fp16_res = max(2 ** (log2 + 1 - spec.num_fp16_res), 8)

    blocks, num_ws = [], 0
    for res in spec.resolutions:
        key = f"synthesis.b{res}"
        out_c = spec.channels(res)
        in_c = spec.channels(res // 2) if res > 4 else 0
        raw[f"{key}.resample_filter"] = fir_filter()
        params, children = [], []
        if res == 4:
            raw[f"{key}.const"] = rnd(out_c, 4, 4)
            params.append(("const", raw[f"{key}.const"]))
        else:
            children.append(("conv0", _synthesis_layer(raw, f"{key}.conv0", rnd, spec, in_c, out_c, res, 2, src)))
        children.append(("conv1", _synthesis_layer(raw, f"{key}.conv1", rnd, spec, out_c, out_c, res, 1, src)))
        children.append(("torgb", _torgb(raw, f"{key}.torgb", rnd, spec, out_c, src)))
        num_conv = 1 if res == 4 else 2
        num_ws += num_conv + (1 if res == spec.img_resolution else 0)
        attrs = dict(in_channels=in_c, w_dim=spec.w_dim, resolution=res, img_channels=spec.img_channels,
                     is_last=res == spec.img_resolution, architecture="skip", use_fp16=res >= fp16_res,
                     channels_last=False, num_conv=num_conv, num_torgb=1)
        if spec.stylegan3_repo:
            attrs["fused_modconv_default"] = "inference_only"
        blocks.append((f"b{res}", _module("SynthesisBlock", src, params=params,
                                          buffers=[("resample_filter", raw[f"{key}.resample_filter"])],
                                          children=children, attrs=attrs)))
    syn_kwargs = dict(channel_base=spec.channel_base, channel_max=spec.channel_max,
                      num_fp16_res=spec.num_fp16_res, conv_clamp=spec.conv_clamp)
    if spec.stylegan3_repo:
        syn_kwargs["fused_modconv_default"] = "inference_only"
    syn_attrs = dict(w_dim=spec.w_dim, img_resolution=spec.img_resolution, img_resolution_log2=log2,
                     img_channels=spec.img_channels, block_resolutions=spec.resolutions, num_ws=num_ws)
    synthesis = _module("SynthesisNetwork", src, children=blocks + list((synthesis_extra or {}).items()),
                        attrs=syn_attrs,
                        init_kwargs=dict(w_dim=spec.w_dim, img_resolution=spec.img_resolution,
                                         img_channels=spec.img_channels, **syn_kwargs))

    map_children = []
    embed = spec.w_dim if spec.c_dim else 0
    if spec.c_dim:
        map_children.append(("embed", _fc(raw, "mapping.embed", rnd, spec.c_dim, embed, 1, "linear", src)))
    feats = [spec.z_dim + embed] + [spec.w_dim] * spec.num_map
    for i in range(spec.num_map):
        map_children.append((f"fc{i}", _fc(raw, f"mapping.fc{i}", rnd, feats[i], feats[i + 1], spec.lr_mul, "lrelu", src)))
    raw["mapping.w_avg"] = rnd(spec.w_dim)
    mapping = _module("MappingNetwork", src, buffers=[("w_avg", raw["mapping.w_avg"])], children=map_children,
                      attrs=dict(z_dim=spec.z_dim, c_dim=spec.c_dim, w_dim=spec.w_dim, num_ws=num_ws,
                                 num_layers=spec.num_map, w_avg_beta=0.995),
                      init_kwargs=dict(z_dim=spec.z_dim, c_dim=spec.c_dim, w_dim=spec.w_dim, num_ws=num_ws,
                                       num_layers=spec.num_map))

    g_kwargs = dict(z_dim=spec.z_dim, c_dim=spec.c_dim, w_dim=spec.w_dim, img_resolution=spec.img_resolution,
                    img_channels=spec.img_channels, mapping_kwargs=EasyDict(num_layers=spec.num_map))
    if spec.stylegan3_repo:
        g_kwargs.update(syn_kwargs)  # stylegan3's networks_stylegan2.Generator takes **synthesis_kwargs
    else:
        g_kwargs["synthesis_kwargs"] = EasyDict(syn_kwargs)
    G = _module("Generator", src, children=[("synthesis", synthesis), ("mapping", mapping)],
                attrs=dict(z_dim=spec.z_dim, c_dim=spec.c_dim, w_dim=spec.w_dim, img_resolution=spec.img_resolution,
                           img_channels=spec.img_channels, num_ws=num_ws),
                init_kwargs=g_kwargs)
    return G, raw


def _conv(raw, key, rnd, in_c, out_c, k, act, down, src, bias=True, conv_clamp=None):
    raw[f"{key}.weight"] = rnd(out_c, in_c, k, k)
    raw[f"{key}.resample_filter"] = fir_filter()
    params = [("weight", raw[f"{key}.weight"])]
    attrs = dict(activation=act, up=1, down=down, conv_clamp=conv_clamp, padding=k // 2,
                 weight_gain=np.float64(1 / np.sqrt(in_c * k * k)),
                 act_gain=np.float64(np.sqrt(2) if act == "lrelu" else 1.0))
    if bias:
        raw[f"{key}.bias"] = rnd(out_c, scale=0.2)
        params.append(("bias", raw[f"{key}.bias"]))
    else:
        attrs["bias"] = None
    return _module("Conv2dLayer", src, params=params, buffers=[("resample_filter", raw[f"{key}.resample_filter"])],
                   attrs=attrs)


@dataclass
class DiscSpec:
    img_resolution: int = 16
    img_channels: int = 3
    channel_base: int = 64
    channel_max: int = 8
    mbstd_group_size: int = 2
    conv_clamp: float | None = None

    def channels(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)


def nvlabs_discriminator(spec: DiscSpec, seed: int = 1, src: str = "# networks.py source\n"):
    """(stand-in D, {NVlabs key: tensor}), 'resnet' architecture, unconditional."""
    rnd = _Rand(seed)
    raw: dict[str, torch.Tensor] = {}
    log2 = int(math.log2(spec.img_resolution))
    children = []
    for res in [2**i for i in range(log2, 2, -1)]:
        key, tmp, out = f"b{res}", spec.channels(res), spec.channels(res // 2)
        raw[f"{key}.resample_filter"] = fir_filter()
        kids = []
        if res == spec.img_resolution:
            kids.append(("fromrgb", _conv(raw, f"{key}.fromrgb", rnd, spec.img_channels, tmp, 1, "lrelu", 1, src,
                                          conv_clamp=spec.conv_clamp)))
        kids.append(("conv0", _conv(raw, f"{key}.conv0", rnd, tmp, tmp, 3, "lrelu", 1, src, conv_clamp=spec.conv_clamp)))
        kids.append(("conv1", _conv(raw, f"{key}.conv1", rnd, tmp, out, 3, "lrelu", 2, src, conv_clamp=spec.conv_clamp)))
        kids.append(("skip", _conv(raw, f"{key}.skip", rnd, tmp, out, 1, "linear", 2, src, bias=False)))
        children.append((key, _module("DiscriminatorBlock", src, buffers=[("resample_filter", raw[f"{key}.resample_filter"])],
                                      children=kids,
                                      attrs=dict(in_channels=0 if res == spec.img_resolution else tmp, resolution=res,
                                                 img_channels=spec.img_channels, architecture="resnet",
                                                 use_fp16=False, channels_last=False))))
    c4 = spec.channels(4)
    mbstd = _module("MinibatchStdLayer", src, attrs=dict(group_size=spec.mbstd_group_size, num_channels=1))
    epi = [("mbstd", mbstd),
           ("conv", _conv(raw, "b4.conv", rnd, c4 + 1, c4, 3, "lrelu", 1, src, conv_clamp=spec.conv_clamp)),
           ("fc", _fc(raw, "b4.fc", rnd, c4 * 16, c4, 1, "lrelu", src)),
           ("out", _fc(raw, "b4.out", rnd, c4, 1, 1, "linear", src))]
    children.append(("b4", _module("DiscriminatorEpilogue", src, children=epi,
                                   attrs=dict(in_channels=c4, cmap_dim=0, resolution=4,
                                              img_channels=spec.img_channels, architecture="resnet"))))
    D = _module("Discriminator", src, children=children,
                attrs=dict(c_dim=0, img_resolution=spec.img_resolution, img_resolution_log2=log2,
                           img_channels=spec.img_channels),
                init_kwargs=dict(c_dim=0, img_resolution=spec.img_resolution, img_channels=spec.img_channels,
                                 channel_base=spec.channel_base, channel_max=spec.channel_max,
                                 num_fp16_res=0, conv_clamp=spec.conv_clamp,
                                 block_kwargs=EasyDict(), mapping_kwargs=EasyDict(),
                                 epilogue_kwargs=EasyDict(mbstd_group_size=spec.mbstd_group_size)))
    return D, raw


def snapshot(G, D=None, G_train=None, **extra) -> dict:
    """The dict NVlabs' training loop pickles."""
    return dict(training_set_kwargs=EasyDict(class_name="training.dataset.ImageFolderDataset", path="/data/x.zip",
                                             resolution=16, use_labels=False),
                G=G_train if G_train is not None else G, D=D, G_ema=G, augment_pipe=None, **extra)
