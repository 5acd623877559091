"""LatentTrajectory with a tiny stand-in mapping network (z -> per-layer tanh of a linear map)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from installation.latent import LatentTrajectory, catmull_rom, seed_to_z, slerp

Z_DIM, W_DIM, NUM_WS = 16, 8, 5


class TinyMapping:
    """z [N, z_dim] -> ws [N, num_ws, w_dim]; counts calls so caching can be checked."""

    def __init__(self):
        g = torch.Generator().manual_seed(1234)
        self.A = torch.randn(NUM_WS, Z_DIM, W_DIM, generator=g) / Z_DIM**0.5
        self.calls = 0

    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return torch.tanh(torch.einsum("nz,lzw->nlw", z, self.A))


W_AVG = torch.linspace(-0.3, 0.3, W_DIM)


def make(mode="slerp_z", seeds=(1, 2, 3, 4), **kw) -> LatentTrajectory:
    kw.setdefault("mapping", TinyMapping())
    mapping = kw.pop("mapping")
    return LatentTrajectory(
        mapping, z_dim=Z_DIM, num_ws=NUM_WS, w_avg=W_AVG, seeds=seeds, mode=mode, seconds_per_keyframe=2.0, **kw
    )


def w_at(traj: LatentTrajectory, position: float, psi: float = 1.0) -> torch.Tensor:
    traj.position = position
    return traj.w(psi)


def keyframe_w(mapping, seed: int) -> torch.Tensor:
    return mapping(torch.from_numpy(seed_to_z(seed, Z_DIM)).float())


ALL_MODES = ["slerp_z", "lerp_w", "walk"]


@pytest.mark.parametrize("mode", ALL_MODES)
def test_shapes_and_dtype(mode):
    traj = make(mode)
    traj.advance(0.3, 1.0)
    w = traj.w(0.7)
    assert w.shape == (1, NUM_WS, W_DIM)
    assert w.dtype == torch.float32
    assert torch.isfinite(w).all()


def test_seed_to_z_is_nvlabs_formula_and_matches_generate_module():
    z = seed_to_z(5, Z_DIM)
    np.testing.assert_array_equal(z, np.random.RandomState(5).randn(1, Z_DIM))
    generate = pytest.importorskip("installation.generate", reason="generate.py not written yet")
    np.testing.assert_array_equal(generate.seed_to_z(5, Z_DIM), z)


@pytest.mark.parametrize("mode", ALL_MODES)
def test_deterministic_for_same_seeds_and_dts(mode):
    dts = [0.016, 0.033, 0.02, 0.5, 0.017] * 6
    runs = []
    for _ in range(2):
        traj = make(mode, seed=7)
        out = []
        for i, dt in enumerate(dts):
            traj.advance(dt, 1.0 + 0.1 * (i % 3))
            if i == 10:
                traj.push(0.4)
            out.append(traj.w(0.7))
        runs.append(torch.stack(out))
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0][0], runs[0][-1])  # it actually moved


@pytest.mark.parametrize("mode", ALL_MODES)
def test_psi_zero_gives_w_avg_everywhere(mode):
    traj = make(mode)
    traj.set_offset(torch.ones(W_DIM))  # offsets come before truncation, so psi 0 hides them too
    for _ in range(5):
        traj.advance(0.37, 1.0)
        expected = W_AVG.reshape(1, 1, -1).expand(1, NUM_WS, W_DIM)
        torch.testing.assert_close(traj.w(0.0), expected, atol=1e-6, rtol=0)


def test_truncation_cutoff_only_affects_first_ws():
    traj = make("lerp_w", truncation_cutoff=2)
    traj.position = 1.3
    full = traj.w(1.0)
    trunc = traj.w(0.5)
    avg = W_AVG.reshape(1, 1, -1)
    torch.testing.assert_close(trunc[:, :2], avg + 0.5 * (full[:, :2] - avg), atol=1e-6, rtol=0)
    torch.testing.assert_close(trunc[:, 2:], full[:, 2:], atol=0, rtol=0)
    assert (trunc[:, :2] - full[:, :2]).abs().max() > 1e-3


@pytest.mark.parametrize("mode", ["slerp_z", "lerp_w"])
def test_keyframes_hit_exactly_at_integer_positions(mode):
    mapping = TinyMapping()
    seeds = (3, 9, 27)
    traj = make(mode, seeds=seeds, mapping=mapping)
    for i, s in enumerate(seeds):
        torch.testing.assert_close(w_at(traj, float(i)), keyframe_w(mapping, s), atol=1e-6, rtol=0)


@pytest.mark.parametrize("mode", ["slerp_z", "lerp_w"])
def test_loop_end_is_next_to_its_start(mode):
    traj = make(mode, loop=True)
    n = traj.num_keyframes
    start = w_at(traj, 0.0)
    assert torch.equal(w_at(traj, float(n)), start)  # position n wraps to 0: the same frame
    eps = 1e-3
    before_wrap = w_at(traj, n - eps)
    # A typical step of the same size somewhere in the middle of the path.
    typical = (w_at(traj, 1.5 + eps) - w_at(traj, 1.5)).norm()
    gap = (start - before_wrap).norm()
    assert typical > 0
    assert gap < 5 * typical, (gap, typical)
    assert gap < 0.01 * (w_at(traj, 2.0) - start).norm()


def test_loop_wraps_while_advancing_and_frames_repeat():
    traj = make("lerp_w", loop=True)
    period_seconds = traj.num_keyframes * traj.seconds_per_keyframe
    first = traj.w()
    steps = 40
    for _ in range(steps):
        traj.advance(period_seconds / steps, 1.0)
    assert 0.0 <= traj.position < traj.num_keyframes
    assert min(traj.position, traj.num_keyframes - traj.position) < 1e-9
    torch.testing.assert_close(traj.w(), first, atol=1e-5, rtol=0)


def test_no_loop_stops_at_last_keyframe():
    mapping = TinyMapping()
    traj = make("slerp_z", seeds=(1, 2, 3), loop=False, mapping=mapping)
    traj.advance(100.0, 1.0)
    assert traj.position == 2.0
    torch.testing.assert_close(traj.w(), keyframe_w(mapping, 3), atol=1e-6, rtol=0)
    traj.advance(1.0, -100.0)
    assert traj.position == 0.0


@pytest.mark.parametrize("mode", ALL_MODES)
def test_speed_zero_holds(mode):
    traj = make(mode)
    traj.advance(1.0, 1.0)
    held = traj.w(0.8)
    pos = traj.position
    for _ in range(10):
        traj.advance(0.5, 0.0)
    assert traj.position == pos
    assert torch.equal(traj.w(0.8), held)


def test_speed_sets_travel_rate():
    traj = make("lerp_w", seeds=(1, 2, 3, 4, 5, 6))
    traj.advance(1.0, 1.0)  # seconds_per_keyframe = 2
    assert traj.position == pytest.approx(0.5)
    traj.advance(1.0, 2.0)
    assert traj.position == pytest.approx(1.5)


def test_next_keyframe_glides_to_the_keyframe():
    mapping = TinyMapping()
    traj = make("slerp_z", mapping=mapping)
    traj.position = 0.3
    traj.next_keyframe()
    positions = []
    for _ in range(12):  # 1.2 s > glide_seconds
        traj.advance(0.1, 0.0)
        positions.append(traj.position)
    assert positions[0] > 0.3 and positions[0] < 1.0  # it glides: not there after one frame
    assert all(b >= a for a, b in zip(positions, positions[1:]))
    assert traj.position == 1.0
    torch.testing.assert_close(traj.w(), keyframe_w(mapping, 2), atol=1e-6, rtol=0)
    # Two presses in a row step two keyframes; previous from exactly a keyframe goes back one.
    traj.next_keyframe()
    traj.next_keyframe()
    for _ in range(12):
        traj.advance(0.1, 0.0)
    assert traj.position == 3.0
    traj.previous_keyframe()
    for _ in range(12):
        traj.advance(0.1, 0.0)
    assert traj.position == 2.0


def test_next_keyframe_across_the_loop_takes_the_short_way():
    traj = make("lerp_w", seeds=(1, 2, 3))
    traj.position = 2.6
    traj.next_keyframe()
    seen = []
    for _ in range(12):
        traj.advance(0.1, 0.0)
        seen.append(traj.position)
    assert traj.position == 0.0
    assert all(p > 2.5 or p < 1e-9 for p in seen)  # never travelled back through 1 and 2


def test_jump_to_seed_crossfades_to_that_seed():
    mapping = TinyMapping()
    traj = make("slerp_z", seeds=(1, 2, 3), mapping=mapping)
    traj.advance(1.0, 1.0)  # position 0.5
    before = traj.w()
    traj.jump_to_seed(42)
    assert traj.num_keyframes == 4
    torch.testing.assert_close(traj.w(), before, atol=1e-6, rtol=0)  # no jump on the jump frame
    traj.advance(0.5, 1.0)
    mid = traj.w()
    assert 0 < (mid - before).norm() < (keyframe_w(mapping, 42) - before).norm()
    traj.advance(0.6, 0.0)
    torch.testing.assert_close(traj.w(), keyframe_w(mapping, 42), atol=1e-6, rtol=0)
    assert traj.position == 1.0  # inserted right after the segment it was in
    traj.jump_to_seed(3)  # an existing keyframe is reused, not duplicated
    assert traj.num_keyframes == 4


def test_push_adds_travel_that_decays():
    traj = make("lerp_w", seeds=(1, 2, 3, 4, 5, 6))
    traj.push(0.5)
    for _ in range(100):
        traj.advance(0.1, 0.0)
    assert traj.position == pytest.approx(0.5, abs=1e-6)  # total extra travel is the amount


def test_set_offset_is_added_before_truncation():
    traj = make("lerp_w", truncation_cutoff=None)
    base = traj.w(0.5)
    traj.set_offset(torch.full((W_DIM,), 0.2))
    torch.testing.assert_close(traj.w(0.5), base + 0.5 * 0.2, atol=1e-6, rtol=0)
    per_layer = torch.zeros(NUM_WS, W_DIM)
    per_layer[1] = 1.0
    traj.set_offset(per_layer)
    traj.set_offset(None)
    full = traj.w(1.0)
    traj.set_offset(per_layer)
    torch.testing.assert_close(traj.w(1.0), full + per_layer[None], atol=1e-6, rtol=0)
    traj.set_offset(None)
    torch.testing.assert_close(traj.w(0.5), base)
    with pytest.raises(ValueError, match=r"w offset"):
        traj.set_offset(torch.zeros(3))


def test_w_keyframes_mix_with_seeds():
    mapping = TinyMapping()
    w_kf = np.full((NUM_WS, W_DIM), 0.25, np.float32)
    traj = make("slerp_z", seeds=(1, 2), w_keyframes=[w_kf, np.zeros(W_DIM, np.float32)], mapping=mapping)
    assert traj.num_keyframes == 4
    torch.testing.assert_close(w_at(traj, 2.0), torch.from_numpy(w_kf)[None])
    torch.testing.assert_close(w_at(traj, 3.0), torch.zeros(1, NUM_WS, W_DIM))
    # A segment touching a w keyframe interpolates in W (smoothstep ease: halfway at t = 0.5).
    torch.testing.assert_close(w_at(traj, 2.5), torch.full((1, NUM_WS, W_DIM), 0.125))
    with pytest.raises(ValueError, match=r"w keyframe 0"):
        make("lerp_w", w_keyframes=[np.zeros((NUM_WS + 1, W_DIM))])


def test_mapping_runs_once_per_keyframe_in_lerp_w_and_once_per_frame_in_slerp_z():
    mapping = TinyMapping()
    traj = make("lerp_w", mapping=mapping)
    for _ in range(30):
        traj.advance(0.25, 1.0)
        traj.w(0.7)
        traj.w(0.5)
    assert mapping.calls == 4  # one per keyframe, cached
    mapping = TinyMapping()
    traj = make("slerp_z", mapping=mapping)
    traj.advance(0.25, 1.0)
    traj.w(0.7)
    traj.w(0.5)
    assert mapping.calls == 1


def test_velocity_is_continuous_at_keyframes():
    """Finite-difference velocity just before and after keyframe 1 agrees (no kink)."""
    for mode in ("slerp_z", "lerp_w"):
        traj = make(mode)
        h = 1e-3
        v_in = (w_at(traj, 1.0) - w_at(traj, 1.0 - h)) / h
        v_out = (w_at(traj, 1.0 + h) - w_at(traj, 1.0)) / h
        mean_speed = (w_at(traj, 1.5 + h) - w_at(traj, 1.5)).norm() / h
        assert (v_in - v_out).norm() < 0.05 * mean_speed, mode


def test_walk_is_deterministic_continuous_and_wanders():
    a, b = make("walk", seed=3), make("walk", seed=3)
    other = make("walk", seed=4)
    prev = a.w()  # reading w() early must not change the walk (b is not read here)
    start = prev
    max_step = 0.0
    for _ in range(200):
        for t in (a, b, other):
            t.advance(0.02, 1.0, walk_step=0.8)
        w = a.w()
        assert torch.equal(w, b.w())
        max_step = max(max_step, float((w - prev).norm()))
        prev = w
    far = float((prev - start).norm())
    assert far > 0.1  # it went somewhere: 2 keyframe intervals
    assert max_step < 0.1 * far  # small dt -> small change
    assert not torch.equal(prev, other.w())  # another show seed walks elsewhere


def test_walk_step_zero_stays_at_its_start():
    mapping = TinyMapping()
    traj = make("walk", seeds=(5,), mapping=mapping, walk_step=0.0)
    start = keyframe_w(mapping, 5)
    torch.testing.assert_close(traj.w(), start, atol=1e-6, rtol=0)
    for _ in range(20):
        traj.advance(0.5, 1.0)
    torch.testing.assert_close(traj.w(), start, atol=1e-5, rtol=0)


def test_walk_from_a_w_keyframe_starts_there():
    w_kf = np.full((NUM_WS, W_DIM), 0.1, np.float32)
    traj = make("walk", seeds=(), w_keyframes=[w_kf])
    torch.testing.assert_close(traj.w(), torch.from_numpy(w_kf)[None], atol=1e-6, rtol=0)
    traj.advance(3.0, 1.0)
    assert not torch.allclose(traj.w(), torch.from_numpy(w_kf)[None])


def test_walk_memory_stays_bounded():
    traj = make("walk")
    for _ in range(300):
        traj.advance(1.0, 1.0)  # 150 control intervals
        traj.w()
    assert len(traj._walk_points) <= 10


def test_needs_a_keyframe_and_a_known_mode():
    with pytest.raises(ValueError, match="at least one keyframe"):
        make("slerp_z", seeds=())
    with pytest.raises(ValueError, match="latent mode 'spline'"):
        make("spline")


def test_load_w_file_shapes_and_errors_name_the_file(tmp_path):
    good = tmp_path / "projected.npy"
    np.save(good, np.ones((1, NUM_WS, W_DIM), np.float32))
    w = LatentTrajectory.load_w_file(good)
    assert w.shape == (1, NUM_WS, W_DIM) and w.dtype == np.float32
    traj = make("lerp_w", seeds=(), w_keyframes=[w, good])
    assert traj.num_keyframes == 2

    npz = tmp_path / "projected_w.npz"
    np.savez(npz, w=np.zeros((1, NUM_WS, W_DIM), np.float32))
    assert LatentTrajectory.load_w_file(npz).shape == (1, NUM_WS, W_DIM)

    cases = {
        "missing.npy": None,
        "garbage.npy": b"not numpy at all",
        "ints.npy": np.zeros((NUM_WS, W_DIM), np.int64),
        "batch.npy": np.zeros((2, NUM_WS, W_DIM), np.float32),
        "nan.npy": np.full((W_DIM,), np.nan, np.float32),
    }
    for name, content in cases.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            np.save(path, content)
        with pytest.raises((ValueError, FileNotFoundError), match=name):
            LatentTrajectory.load_w_file(path)


def test_helpers():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    m = slerp(a, b, 0.5)
    np.testing.assert_allclose(m, [2**-0.5, 2**-0.5])  # on the great circle, halfway
    np.testing.assert_allclose(slerp(a, b, 0.0), a)
    np.testing.assert_allclose(slerp(a, b, 1.0), b, atol=1e-12)
    p = [np.array([float(i)]) for i in range(4)]
    np.testing.assert_allclose(catmull_rom(*p, 0.25), [1.25])  # uniform on a straight line


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_runs_on_cuda():
    cpu_mapping = TinyMapping()
    A = cpu_mapping.A.cuda()
    traj = LatentTrajectory(
        lambda z: torch.tanh(torch.einsum("nz,lzw->nlw", z, A)),
        z_dim=Z_DIM, num_ws=NUM_WS, w_avg=W_AVG, seeds=(1, 2), device="cuda",
    )  # fmt: skip
    traj.advance(0.5, 1.0)
    w = traj.w(0.7)
    assert w.device.type == "cuda" and w.shape == (1, NUM_WS, W_DIM)
    assert torch.isfinite(w).all()
