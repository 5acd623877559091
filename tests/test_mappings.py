"""Mappings: curves, ranges, smoothing, add mode; latent directions from a real torch mapping net."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from installation.config import Mapping, ShowConfigError, validate_show
from installation.control.audio_features import feature_names
from installation.control.mappings import (
    LatentModulation,
    MappingEngine,
    apply_curve,
    band_offset,
    cached_pca_directions,
    checkpoint_key,
    pca_directions,
)
from installation.params import Params


@pytest.mark.parametrize("curve", ["linear", "exp", "log", "smoothstep"])
def test_curves_fix_the_ends_and_rise(curve):
    xs = np.linspace(0, 1, 101)
    ys = [apply_curve(x, curve) for x in xs]
    assert ys[0] == pytest.approx(0.0, abs=1e-12) and ys[-1] == pytest.approx(1.0)
    assert all(b > a for a, b in zip(ys, ys[1:]))
    assert apply_curve(-3.0, curve) == ys[0] and apply_curve(7.0, curve) == ys[-1]  # clipped


def test_curve_shapes():
    assert apply_curve(0.5, "linear") == 0.5
    assert apply_curve(0.5, "exp") < 0.25  # slow start
    assert apply_curve(0.5, "log") > 0.75  # quick start
    assert apply_curve(apply_curve(0.3, "exp"), "log") == pytest.approx(0.3)  # inverses
    assert apply_curve(0.25, "smoothstep") == pytest.approx(0.15625)
    with pytest.raises(ValueError, match="curve"):
        apply_curve(0.5, "cubic")


def test_range_and_source_range_set_mode():
    params = Params()
    m = Mapping(source="audio.tempo", target="latent.speed", range=(0.5, 2.5), source_range=(60, 180), smoothing=0)
    engine = MappingEngine([m], params)
    engine.apply({"audio.tempo": 120.0}, 1 / 30)
    assert params.get_target("latent.speed") == pytest.approx(1.5)
    engine.apply({"audio.tempo": 500.0}, 1 / 30)  # beyond the source range: the range's end
    assert params.get_target("latent.speed") == pytest.approx(2.5)
    assert params.snapshot(0.0)["latent.speed"] == pytest.approx(2.5)  # no second easing


def test_mapping_range_beyond_the_parameter_is_clamped_quietly():
    params = Params()
    engine = MappingEngine([Mapping(source="osc.fader", target="dream.strength", range=(0, 5), smoothing=0)], params)
    engine.apply({"osc.fader": 1.0}, 0.1)
    assert params.get_target("dream.strength") == 1.0
    assert params.counters["clamped"] == 0


def test_smoothing_converges_with_its_time_constant():
    params = Params()
    start = params.get_target("warp.swirl")  # 0.6
    m = Mapping(source="audio.rms", target="warp.swirl", range=(0, 4), smoothing=0.5)
    engine = MappingEngine([m], params)
    dt = 1 / 60
    for _ in range(30):  # half a second = one time constant
        engine.apply({"audio.rms": 1.0}, dt)
    expected = 4.0 + (start - 4.0) * math.exp(-1.0)
    assert params.get_target("warp.swirl") == pytest.approx(expected, rel=1e-6)
    for _ in range(600):
        engine.apply({"audio.rms": 1.0}, dt)
    assert params.get_target("warp.swirl") == pytest.approx(4.0, abs=1e-6)
    # a missing source holds the value
    engine.apply({}, dt)
    assert params.get_target("warp.swirl") == pytest.approx(4.0, abs=1e-6)


def test_add_mode_offsets_the_base_and_sums():
    params = Params()
    base = params.get_target("grade.exposure")  # 0.0
    maps = [
        Mapping(source="audio.band0", target="grade.exposure", range=(0, 1), mode="add", smoothing=0),
        Mapping(source="audio.onset", target="grade.exposure", range=(0, 0.5), mode="add", smoothing=0),
    ]
    engine = MappingEngine(maps, params)
    engine.apply({"audio.band0": 0.5, "audio.onset": 1.0}, 0.1)
    assert params.get_target("grade.exposure") == base  # the base is untouched
    snap = params.snapshot(100.0)  # long dt: the param's own easing has arrived
    assert snap["grade.exposure"] == pytest.approx(base + 0.5 + 0.5)
    params.set("grade.exposure", 1.0)  # OSC moves the base; the offset rides on top
    assert params.snapshot(100.0)["grade.exposure"] == pytest.approx(2.0)
    engine.release()
    assert params.snapshot(100.0)["grade.exposure"] == pytest.approx(1.0)


def test_bad_mappings_are_named():
    params = Params()
    with pytest.raises(ValueError, match=r"mappings\[0\].source"):
        MappingEngine([Mapping(source="audio.band9", target="latent.speed")], params, known_sources=feature_names(8))
    with pytest.raises(ValueError, match=r"mappings\[0\].source"):
        MappingEngine([Mapping(source="rms", target="latent.speed")], params)
    with pytest.raises(ValueError, match=r"source_range"):
        MappingEngine([Mapping(source="audio.rms", target="latent.speed", source_range=(1, 1))], params)
    with pytest.raises(ShowConfigError, match="mappings.0.target"):
        validate_show({"mappings": [{"source": "audio.rms", "target": "latent.nope"}]})


def tiny_mapping(z_dim=16, w_dim=12):
    torch.manual_seed(0)
    # anisotropic on purpose: PCA must find the stretched axes
    net = torch.nn.Sequential(torch.nn.Linear(z_dim, w_dim), torch.nn.LeakyReLU(0.2), torch.nn.Linear(w_dim, w_dim))
    with torch.no_grad():
        net[2].weight.mul_(torch.linspace(3.0, 0.1, w_dim)[:, None])
    return net


def test_pca_directions_are_ordered_orthogonal_and_deterministic():
    net = tiny_mapping()
    d = pca_directions(net, 16, n=400, k=4, seed=1)
    assert d.shape == (4, 12) and d.dtype == np.float32
    norms = np.linalg.norm(d, axis=1)
    assert np.all(np.diff(norms) <= 1e-6)  # by variance, largest first
    unit = d / norms[:, None]
    np.testing.assert_allclose(unit @ unit.T, np.eye(4), atol=1e-4)
    # rows are one standard deviation: the projection of W on each axis has that std
    z = np.random.RandomState(1).randn(400, 16).astype(np.float32)
    with torch.no_grad():
        w = net(torch.from_numpy(z)).numpy()
    proj = (w - w.mean(0)) @ unit[0]
    assert proj.std(ddof=1) == pytest.approx(norms[0], rel=1e-3)
    np.testing.assert_array_equal(d, pca_directions(net, 16, n=400, k=4, seed=1))


def test_pca_cache_is_keyed_by_checkpoint(tmp_path):
    net = tiny_mapping()
    ckpt = tmp_path / "a.pt"
    ckpt.write_bytes(b"weights A")
    cache = tmp_path / "cache"
    d1 = cached_pca_directions(net, 16, ckpt, cache, n=300, k=3)
    files = list(cache.glob("*.npy"))
    assert len(files) == 1 and checkpoint_key(ckpt)[:20] in files[0].name
    # the cache answers without the network
    d2 = cached_pca_directions(None, 16, ckpt, cache, n=300, k=3)
    np.testing.assert_array_equal(d1, d2)
    ckpt.write_bytes(b"weights B")  # another checkpoint: a new entry
    cached_pca_directions(net, 16, ckpt, cache, n=300, k=3)
    assert len(list(cache.glob("*.npy"))) == 2
    assert checkpoint_key("random:3") != checkpoint_key("random:4")


def test_band_offset_and_latent_modulation():
    dirs = np.eye(4, 6, dtype=np.float32) * 2.0  # [k=4, w_dim=6]
    feats = {"audio.band0": 1.0, "audio.band1": 0.5, "audio.band2": 0.0, "audio.band3": 0.0, "audio.band4": 0.25}
    off = band_offset(feats, dirs, 0.5)
    np.testing.assert_allclose(off, [0.5 * 2.0 * (1.0 + 0.25), 0.5 * 2.0 * 0.5, 0, 0, 0, 0])  # band4 wraps to dir 0
    assert not band_offset({"audio.band0": 0.0}, dirs, 1.0).any()  # silence: no offset
    mod = LatentModulation(dirs, band_scale=0.0, onset_push=0.2, onset_kick=1.0, kick_decay=0.1)
    off, push = mod.step({"audio.onset": 1.0}, 1 / 30)
    assert push == pytest.approx(0.2)
    np.testing.assert_allclose(off, dirs[0])
    off, push = mod.step({"audio.onset": 0.0}, 0.1)
    assert push == 0.0
    np.testing.assert_allclose(off, dirs[0] * math.exp(-1.0), rtol=1e-6)
    off, _ = mod.step({"audio.onset": 1.0}, 1 / 30)  # the next onset takes the next direction
    np.testing.assert_allclose(off, dirs[1])


def test_pca_directions_with_our_mapping_network():
    stylegan2 = pytest.importorskip("installation.models.stylegan2", reason="the generator module is not there yet")
    for c_dim in (0, 3):  # a conditional network gets zero labels
        net = stylegan2.MappingNetwork(z_dim=32, c_dim=c_dim, w_dim=24, num_ws=6, num_layers=2)
        d = pca_directions(net, 32, n=256, k=5)  # [N, num_ws, w_dim] outputs are taken at ws[:, 0]
        assert d.shape == (5, 24) and np.isfinite(d).all()
