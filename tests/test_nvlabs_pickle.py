"""NVlabs .pkl snapshots: allow-list unpickling, weights copied, pixels as NVlabs' maths gives them.

The pickles are written here by stand-ins of NVlabs' persistence format (tests/_nvlabs_standin.py);
the reference forward below is NVlabs' StyleGAN2 maths written out independently (per-sample loops,
zero-insertion upsampling, no code shared with installation/models).
"""

from __future__ import annotations

import math
import os
import pickle
import sys
import types

import pytest
import torch
import torch.nn.functional as F
from _nvlabs_standin import (
    DiscSpec,
    GenSpec,
    Persistent,
    fir_filter,
    module_src_that_marks,
    nvlabs_discriminator,
    nvlabs_generator,
    snapshot,
    write_pickle,
)

from installation.models.checkpoint import CheckpointError, load_discriminator, load_generator
from installation.models.nvlabs_pickle import (
    PersistentRecord,
    UnsafePickleError,
    load_nvlabs,
    read_nvlabs_pickle,
)

from conftest import seeded

CPU = torch.device("cpu")
SQRT2 = math.sqrt(2.0)


# --- an independent reference: NVlabs StyleGAN2 maths on the raw {NVlabs key: tensor} dict ---


def lrelu(x):
    return F.leaky_relu(x, 0.2) * SQRT2


def ref_fc(raw, key, x, lr=1.0, act=False):
    w = raw[f"{key}.weight"]
    y = x @ (w * (lr / math.sqrt(w.shape[1]))).t() + raw[f"{key}.bias"] * lr
    return lrelu(y) if act else y


def ref_norm(x):
    return x / torch.sqrt(x.square().mean(dim=1, keepdim=True) + 1e-8)


def fir(x, pad0, pad1, gain=1.0):
    """Pad, then filter every channel with the 4x4 [1,3,3,1] FIR filter."""
    c = x.shape[1]
    x = F.pad(x, [pad0, pad1, pad0, pad1])
    return F.conv2d(x, (fir_filter() * gain).expand(c, 1, 4, 4), groups=c)


def zero_insert(x):
    n, c, h, w = x.shape
    out = x.new_zeros([n, c, 2 * h, 2 * w])
    out[:, :, ::2, ::2] = x
    return out


def ref_modconv(x, weight, styles, demodulate, up):
    outs = []
    for n in range(x.shape[0]):  # one sample at a time: no grouped-conv tricks
        w = weight * styles[n].reshape(1, -1, 1, 1)
        if demodulate:
            w = w / torch.sqrt(w.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8)
        xn = x[n:n + 1]
        if up:  # stride-2 transposed conv == zeros inserted, then a true (flipped) convolution
            y = F.conv2d(F.pad(zero_insert(xn), [2, 1, 2, 1]), w.flip([2, 3]))  # [1, O, 2H+1, 2W+1]
            y = fir(y, 1, 1, gain=4.0)  # [1, O, 2H, 2W]
        else:
            y = F.conv2d(xn, w, padding=w.shape[-1] // 2)
        outs.append(y)
    return torch.cat(outs)


def ref_mapping(raw, spec, z, c=None):
    x = ref_norm(z)
    if spec.c_dim:
        x = torch.cat([x, ref_norm(ref_fc(raw, "mapping.embed", c))], dim=1)
    for i in range(spec.num_map):
        x = ref_fc(raw, f"mapping.fc{i}", x, lr=spec.lr_mul, act=True)
    return x  # [N, w_dim]


def ref_synthesis(raw, spec, ws):
    clamp = (lambda t: t.clamp(-spec.conv_clamp, spec.conv_clamp)) if spec.conv_clamp is not None else (lambda t: t)

    def layer(key, x, w, up):
        y = ref_modconv(x, raw[f"{key}.weight"], ref_fc(raw, f"{key}.affine", w), True, up)
        y = y + raw[f"{key}.noise_const"] * raw[f"{key}.noise_strength"]
        return clamp(lrelu(y + raw[f"{key}.bias"].reshape(1, -1, 1, 1)))

    def torgb(key, x, w):
        styles = ref_fc(raw, f"{key}.affine", w) / math.sqrt(x.shape[1])
        y = ref_modconv(x, raw[f"{key}.weight"], styles, False, False)
        return clamp(y + raw[f"{key}.bias"].reshape(1, -1, 1, 1))

    x = raw["synthesis.b4.const"][None].repeat(ws.shape[0], 1, 1, 1)
    x = layer("synthesis.b4.conv1", x, ws[:, 0], False)
    img = torgb("synthesis.b4.torgb", x, ws[:, 1])
    for k, res in enumerate(spec.resolutions[1:], start=1):
        b = f"synthesis.b{res}"
        x = layer(f"{b}.conv0", x, ws[:, 2 * k - 1], True)
        x = layer(f"{b}.conv1", x, ws[:, 2 * k], False)
        img = fir(zero_insert(img), 2, 1, gain=4.0) + torgb(f"{b}.torgb", x, ws[:, 2 * k + 1])
    return img


def ref_generator(raw, spec, z, c=None):
    w = ref_mapping(raw, spec, z, c)
    num_ws = 2 * len(spec.resolutions)
    return ref_synthesis(raw, spec, w[:, None].repeat(1, num_ws, 1))


def ref_conv(raw, key, x, act, down=1, gain=1.0, clamp=None):
    w = raw[f"{key}.weight"]
    w = w / math.sqrt(w.shape[1] * w.shape[2] * w.shape[3])
    if down == 2 and w.shape[-1] == 3:
        y = F.conv2d(fir(x, 2, 2), w, stride=2)
    elif down == 2:
        y = F.conv2d(fir(x, 1, 1)[:, :, ::2, ::2], w)
    else:
        y = F.conv2d(x, w, padding=w.shape[-1] // 2)
    if f"{key}.bias" in raw:
        y = y + raw[f"{key}.bias"].reshape(1, -1, 1, 1)
    y = (lrelu(y) if act else y) * gain
    return y.clamp(-clamp * gain, clamp * gain) if clamp is not None else y


def ref_discriminator(raw, spec, img):
    cc = spec.conv_clamp
    x = None
    for res in [2**i for i in range(int(math.log2(spec.img_resolution)), 2, -1)]:
        b = f"b{res}"
        if x is None:
            x = ref_conv(raw, f"{b}.fromrgb", img, True, clamp=cc)
        skip = ref_conv(raw, f"{b}.skip", x, False, down=2, gain=math.sqrt(0.5))
        x = ref_conv(raw, f"{b}.conv0", x, True, clamp=cc)
        x = skip + ref_conv(raw, f"{b}.conv1", x, True, down=2, gain=math.sqrt(0.5), clamp=cc)
    n, c, h, w = x.shape
    g = min(spec.mbstd_group_size, n)
    y = x.reshape(g, -1, 1, c, h, w)
    y = torch.sqrt((y - y.mean(dim=0)).square().mean(dim=0) + 1e-8).mean(dim=[2, 3, 4])  # [n/g, 1]
    x = torch.cat([x, y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w)], dim=1)
    x = ref_conv(raw, "b4.conv", x, True, clamp=cc)
    x = ref_fc(raw, "b4.fc", x.flatten(1), act=True)
    return ref_fc(raw, "b4.out", x)


# --- helpers ------------------------------------------------------------------------------


def write_snapshot(tmp_path, spec=None, with_d=True, name="network-snapshot.pkl", src=None, protocol=4, **kw):
    spec = spec or GenSpec()
    src = src or module_src_that_marks(tmp_path / "module_src_ran")
    G, raw = nvlabs_generator(spec, seed=0, src=src, **kw)
    D, raw_d = nvlabs_discriminator(DiscSpec(), seed=1, src=src) if with_d else (None, None)
    path = tmp_path / name
    write_pickle(path, snapshot(G, D), protocol=protocol)
    return path, raw, raw_d


# --- tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [
    GenSpec(),
    GenSpec(conv_clamp=0.6, num_fp16_res=2, channel_base=32, channel_max=8, lr_mul=0.05),
    GenSpec(stylegan3_repo=True, conv_clamp=256, num_fp16_res=2, num_map=3, img_channels=1),
], ids=["ada", "clamped", "stylegan3-repo"])
def test_generator_pixels_match_the_reference(tmp_path, spec):
    path, raw, _ = write_snapshot(tmp_path, spec)
    G, D, notes = load_nvlabs(path)
    assert notes == [] and G.c_dim == 0
    assert G.img_resolution == spec.img_resolution and G.img_channels == spec.img_channels
    assert G.init_kwargs["synthesis_kwargs"]["conv_clamp"] == spec.conv_clamp
    assert G.init_kwargs["synthesis_kwargs"]["num_fp16_res"] == spec.num_fp16_res

    # Every NVlabs tensor was copied, unchanged.
    state = G.state_dict()
    assert set(state) == set(raw)
    for key, value in raw.items():
        assert torch.equal(state[key], value), key

    z = seeded(3, spec.z_dim)
    with torch.no_grad():
        img = G(z, truncation_psi=1, noise_mode="const")
        ref = ref_generator(raw, spec, z)
        assert img.shape == (3, spec.img_channels, spec.img_resolution, spec.img_resolution)
        assert (img - ref).abs().max().item() < 1e-3
        # A different w for every layer checks which w goes where.
        ws = seeded(2, G.num_ws, spec.w_dim, seed=9)
        assert (G.synthesis(ws, noise_mode="const") - ref_synthesis(raw, spec, ws)).abs().max().item() < 1e-3
        # Truncation pulls towards the stored w_avg.
        w_trunc = G.mapping(z, None, truncation_psi=0.5)[:, 0]
        expected = raw["mapping.w_avg"] + 0.5 * (ref_mapping(raw, spec, z) - raw["mapping.w_avg"])
        assert (w_trunc - expected).abs().max().item() < 1e-4
    assert not (tmp_path / "module_src_ran").exists()


def test_discriminator_weights_and_logits_match_the_reference(tmp_path):
    spec = DiscSpec(conv_clamp=0.8)
    G, _ = nvlabs_generator(GenSpec(), seed=0, src="# src\n")
    D_standin, raw = nvlabs_discriminator(spec, seed=3, src="# src\n")
    path = tmp_path / "snap.pkl"
    write_pickle(path, snapshot(G, D_standin))
    D = load_discriminator(path, CPU)
    assert D is not None and D.init_kwargs["mbstd_group_size"] == spec.mbstd_group_size
    state = D.state_dict()
    assert set(state) == set(raw)
    assert all(torch.equal(state[k], v) for k, v in raw.items())
    img = seeded(4, 3, 16, 16, seed=2)
    with torch.no_grad():
        assert (D(img) - ref_discriminator(raw, spec, img)).abs().max().item() < 1e-3
        feats = D.features(img)
    assert set(feats) == {"b16", "b8", "b4"}


def test_load_generator_dispatches_on_a_pkl(tmp_path):
    path, raw, _ = write_snapshot(tmp_path, name="model.pkl")
    G = load_generator(path, CPU)
    assert not G.training and not any(p.requires_grad for p in G.parameters())
    z = seeded(1, 8)
    with torch.no_grad():
        assert (G(z) - ref_generator(raw, GenSpec(), z)).abs().max().item() < 1e-3


@pytest.mark.parametrize("protocol", [2, 3, 5])
def test_other_pickle_protocols(tmp_path, protocol):
    """Snapshots from older Pythons (protocol 2/3: sets and EasyDicts via GLOBAL + REDUCE/NEWOBJ)."""
    spec = GenSpec(img_resolution=8)
    path, raw, _ = write_snapshot(tmp_path, spec, protocol=protocol)
    G, D, _ = load_nvlabs(path)
    z = seeded(1, spec.z_dim)
    with torch.no_grad():
        assert (G(z) - ref_generator(raw, spec, z)).abs().max().item() < 1e-3
    assert D is not None


def test_conditional_model_plays_the_chosen_class(tmp_path):
    spec = GenSpec(c_dim=3)
    path, raw, _ = write_snapshot(tmp_path, spec, with_d=False)
    z = seeded(2, spec.z_dim)
    for cls in (0, 2):
        G, D, notes = load_nvlabs(path, class_index=cls)
        assert G.c_dim == 0 and D is None
        assert "class" in notes[0]
        c = torch.zeros(2, 3)
        c[:, cls] = 1
        with torch.no_grad():
            assert (G(z) - ref_generator(raw, spec, z, c)).abs().max().item() < 1e-3
    with pytest.raises(CheckpointError, match="class 5 does not exist"):
        load_nvlabs(path, class_index=5)


def test_stylegan3_models_get_a_clear_error(tmp_path):
    src = "# stylegan3 networks\n"
    extra = {"input": Persistent("SynthesisInput", {"_parameters": {}, "_buffers": {}, "_modules": {}}, src)}
    path, _, _ = write_snapshot(tmp_path, src=src, synthesis_extra=extra, name="sg3.pkl")
    with pytest.raises(CheckpointError, match=r"sg3\.pkl.*StyleGAN3 models are not supported yet"):
        load_generator(path, CPU)


def test_records_keep_the_module_source_as_text(tmp_path):
    path, _, _ = write_snapshot(tmp_path)
    data = read_nvlabs_pickle(path)
    assert isinstance(data["G_ema"], PersistentRecord) and data["G_ema"].class_name == "Generator"
    assert "module_src was executed" in data["G_ema"].module_src
    assert isinstance(data["training_set_kwargs"], dict) and data["training_set_kwargs"]["resolution"] == 16
    assert data["G_ema"].init_kwargs["synthesis_kwargs"]["channel_base"] == 64
    assert not (tmp_path / "module_src_ran").exists()


def test_loader_never_uses_nvlabs_code_even_if_importable(tmp_path, monkeypatch):
    """A real torch_utils.persistence in sys.modules (as in a Python that has NVlabs installed) is ignored."""
    path, _, _ = write_snapshot(tmp_path)
    called = []
    trap = types.ModuleType("torch_utils.persistence")
    trap._reconstruct_persistent_obj = lambda meta: called.append(meta)
    monkeypatch.setitem(sys.modules, "torch_utils", types.ModuleType("torch_utils"))
    monkeypatch.setitem(sys.modules, "torch_utils.persistence", trap)
    G, _, _ = load_nvlabs(path)
    assert called == [] and G.img_resolution == 16


class _Payload:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


@pytest.mark.parametrize("func, name", [(os.system, f"{os.system.__module__}.system"), (eval, "builtins.eval")])
def test_malicious_payload_is_refused_and_never_runs(tmp_path, func, name):
    marker = tmp_path / "pwned"
    command = f"touch {marker}" if func is os.system else f"open({str(marker)!r}, 'w')"
    G, _ = nvlabs_generator(GenSpec(), src="# src\n")
    G.state["_init_kwargs"]["evil"] = _Payload(func, command)  # hidden deep inside G_ema's state
    path = tmp_path / "evil.pkl"
    write_pickle(path, snapshot(G))
    with pytest.raises(UnsafePickleError, match=rf"evil\.pkl.*'{name}'"):
        load_generator(path, CPU)
    assert not marker.exists()


def test_other_foreign_classes_are_refused(tmp_path):
    path = tmp_path / "module.pkl"
    with open(path, "wb") as f:
        pickle.dump({"G_ema": torch.nn.Linear(2, 2)}, f)
    with pytest.raises(UnsafePickleError, match="torch.nn.modules.linear.Linear"):
        read_nvlabs_pickle(path)


def test_tensorflow_pickles_and_garbage_get_clear_errors(tmp_path):
    tf = tmp_path / "tf.pkl"
    tf.write_bytes(b"\x80\x03cdnnlib.tflib.network\nNetwork\nq\x00)\x81q\x01.")
    with pytest.raises(CheckpointError, match="TensorFlow"):
        read_nvlabs_pickle(tf)
    bad = tmp_path / "truncated.pkl"
    path, _, _ = write_snapshot(tmp_path)
    bad.write_bytes(path.read_bytes()[:500])
    with pytest.raises(CheckpointError, match="truncated.pkl"):
        load_generator(bad, CPU)
    not_snapshot = tmp_path / "list.pkl"
    not_snapshot.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(CheckpointError, match="G_ema"):
        load_nvlabs(not_snapshot)


def test_real_module_dicts_pickled_the_nvlabs_way(tmp_path):
    """Real nn.Modules pickled with NVlabs' persistence __reduce__ (state = what super().__reduce__()
    gives: the module __dict__ of the running torch, hook dicts and Parameters included)."""
    from _nvlabs_standin import _reconstruct_persistent_obj

    from installation.models.stylegan2 import Generator

    torch.manual_seed(0)
    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=8, img_channels=3, mapping_kwargs=dict(num_layers=2),
                  synthesis_kwargs=dict(channel_base=32, channel_max=8, conv_clamp=256, num_fp16_res=1)).eval()
    with torch.no_grad():
        G.synthesis.b8.conv1.noise_strength.fill_(0.5)
    reference = Generator(**G.init_kwargs).eval()
    reference.load_state_dict(G.state_dict())
    for module in G.modules():  # NVlabs' persistent_class Decorator, per class
        original = type(module)

        class Decorator(original):
            def __reduce__(self, _name=original.__name__):
                fields = list(super().__reduce__()) + [None] * 3
                meta = dict(type="class", version=6, module_src="# src\n", class_name=_name, state=fields[2])
                return (_reconstruct_persistent_obj, (meta,))

        module.__class__ = Decorator
    path = tmp_path / "real.pkl"
    write_pickle(path, {"G": G, "D": None, "G_ema": G})
    loaded, _, _ = load_nvlabs(path)
    assert loaded.init_kwargs["synthesis_kwargs"]["num_fp16_res"] == 1
    z = seeded(2, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(z), reference(z), rtol=0, atol=0)
