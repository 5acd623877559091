"""Noise that moves with the walk: per-keyframe maps, blended along the path without losing
variance, seamless loops, crossfades on jumps, and the content worker drawing them."""

from __future__ import annotations

import math

import pytest
import torch

from installation.config import validate_show
from installation.content import ContentRequest, ContentWorker
from installation.latent_director import LatentDirector
from installation.latent_noise import KeyframeNoise, NoiseDirector, blend_maps, noise_resolutions
from installation.live import Frame
from installation.models.checkpoint import random_generator

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def G():
    G = random_generator(3, 16)
    for name, param in G.synthesis.named_parameters():
        if name.endswith("noise_strength"):
            param.data.fill_(0.5)  # a fresh network has its noise off; a trained one uses it
    return G


def test_resolutions_follow_the_layers_in_running_order(G):
    assert noise_resolutions(G.synthesis) == [4, 8, 8, 16, 16]


def test_keyframes_have_their_own_maps_and_blends_keep_unit_variance():
    noise = KeyframeNoise([64], seed=1)
    a, b = noise.at(0.0)[0], noise.at(1.0)[0]
    assert not torch.allclose(a, b)
    assert torch.equal(KeyframeNoise([64], seed=1).at(0.0)[0], a)  # repeatable
    halfway = noise.at(0.5)[0]
    assert halfway.var().item() == pytest.approx(1.0, abs=0.1)  # a lerp would give 0.5
    assert torch.allclose(halfway, (a + b) / math.sqrt(2), atol=1e-5)


def test_detail_changes_smoothly_along_the_path():
    noise = KeyframeNoise([32], seed=2)
    step = (noise.at(0.31)[0] - noise.at(0.30)[0]).abs().mean()
    across = (noise.at(1.0)[0] - noise.at(0.0)[0]).abs().mean()
    assert step < 0.05 * across


def test_a_loop_is_seamless():
    noise = KeyframeNoise([16], seed=3)
    assert torch.allclose(noise.at(3.25, period=3)[0], noise.at(0.25, period=3)[0])
    end, start = noise.at(2.999, period=3)[0], noise.at(0.0, period=3)[0]
    assert (end - start).abs().max() < 0.05


def test_a_jump_crossfades_instead_of_popping():
    director = NoiseDirector(KeyframeNoise([16], seed=4), jump_fade_seconds=1.0)
    before = director.step(0.2, None, 0.03)
    after_jump = director.step(5.0, None, 0.03)  # 3% into the fade
    target = KeyframeNoise([16], seed=4).at(5.0)[0]
    assert (after_jump[0] - before[0]).abs().mean() < 0.1 * (target - before[0]).abs().mean()
    for _ in range(40):
        last = director.step(5.0, None, 0.03)
    assert torch.allclose(last[0], target)


def test_blend_ends_are_the_inputs():
    a, b = [torch.ones(2, 2)], [torch.zeros(2, 2)]
    assert torch.equal(blend_maps(a, b, 0.0)[0], a[0]) and torch.allclose(blend_maps(a, b, 1.0)[0], b[0], atol=1e-7)


def test_the_director_hands_each_frame_its_maps(G):
    cfg = validate_show({"model": {"checkpoint": "random:3:16", "noise": "keyframe"}, "latent": {"seeds": [1, 2, 3]}})
    director = LatentDirector(cfg, G, torch.device("cpu"))
    frame = Frame.defaults()
    director.step(frame, 0.0)
    first = [m.clone() for m in director.last_noise]
    assert [m.shape[-1] for m in first] == noise_resolutions(G.synthesis)
    director.step(frame, 2.0)
    assert not torch.allclose(director.last_noise[-1], first[-1])  # the detail travelled with w
    cfg = validate_show({"model": {"checkpoint": "random:3:16", "noise": "const"}, "latent": {"seeds": [1, 2]}})
    const = LatentDirector(cfg, G, torch.device("cpu"))
    const.step(frame, 0.1)
    assert const.last_noise is None


@pytest.mark.parametrize("fast", [True, False])
def test_the_worker_draws_the_maps_it_is_given(G, fast):
    worker = ContentWorker(G, "keyframe", fast=fast)
    w = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0)), None)
    noise = KeyframeNoise(noise_resolutions(G.synthesis), seed=5)
    frame = Frame.defaults()
    a = worker.produce(ContentRequest(w, frame, False, noise=noise.at(0.0))).image
    b = worker.produce(ContentRequest(w, frame, False, noise=noise.at(1.0))).image
    again = worker.produce(ContentRequest(w, frame, False, noise=noise.at(0.0))).image
    assert (a != b).any() and (a == again).all()


def test_fast_and_reference_paths_draw_the_same_maps(G):
    w = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(1)), None)
    maps = KeyframeNoise(noise_resolutions(G.synthesis), seed=6).at(0.4)
    images = [ContentWorker(G, "keyframe", fast=fast).produce(ContentRequest(w, Frame.defaults(), False, noise=maps)).image
              for fast in (True, False)]
    assert abs(images[0].astype(int) - images[1].astype(int)).max() <= 1
