"""FastSynthesis (installation/models/fast.py) gives the reference synthesis' pixels within 1e-3."""

from __future__ import annotations

import pytest
import torch

from installation.content import ContentRequest, ContentWorker, choose_torch_threads
from installation.live import Frame
from installation.models.fast import FastSynthesis
from installation.models.stylegan2 import Generator


def tiny_generator(res: int, seed: int = 0, conv_clamp=None) -> Generator:
    torch.manual_seed(seed)
    G = Generator(z_dim=32, c_dim=0, w_dim=32, img_resolution=res, img_channels=3,
                  mapping_kwargs=dict(num_layers=2),
                  synthesis_kwargs=dict(channel_base=512, channel_max=64, conv_clamp=conv_clamp))
    with torch.no_grad():  # exercise every term: noise strengths and biases are zero at init
        for name, p in G.synthesis.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.3)
            elif name.endswith("bias") and "affine" not in name:
                p.normal_(0.0, 0.2)
    return G.eval().requires_grad_(False)


@pytest.mark.parametrize("res, batch, noise_mode, conv_clamp", [
    (16, 1, "const", None),
    (32, 1, "none", None),
    (32, 2, "const", None),  # batch > 1 takes the activation-modulation path everywhere
    (16, 1, "const", 0.5),  # the clamp is active
])
def test_fast_synthesis_matches_reference(res, batch, noise_mode, conv_clamp):
    G = tiny_generator(res, conv_clamp=conv_clamp)
    fast = FastSynthesis(G.synthesis)
    # Both modulation paths occur in these networks (small maps: activations; large: weights).
    paths = {layer.modulate_activations for block in fast.blocks for layer in block.convs}
    assert paths == {True, False} or res == 16
    ws = G.mapping(torch.randn(batch, G.z_dim, generator=torch.Generator().manual_seed(1)), None)
    with torch.no_grad():
        expected = G.synthesis(ws, noise_mode=noise_mode)
    with torch.inference_mode():
        got = fast(ws, noise_mode=noise_mode)
    assert got.shape == expected.shape
    assert expected.abs().max() > 0.1  # not a trivially flat image
    torch.testing.assert_close(got, expected, atol=1e-3, rtol=0)


def test_fast_synthesis_random_noise_has_the_reference_statistics():
    """Random noise cannot match pixel for pixel; with the same RNG seed it does."""
    G = tiny_generator(16)
    fast = FastSynthesis(G.synthesis)
    ws = G.mapping(torch.randn(1, G.z_dim), None)
    torch.manual_seed(3)
    with torch.no_grad():
        expected = G.synthesis(ws, noise_mode="random")
    torch.manual_seed(3)
    with torch.inference_mode():
        got = fast(ws, noise_mode="random")
    torch.testing.assert_close(got, expected, atol=1e-3, rtol=0)


def test_fast_synthesis_rejects_bad_input():
    G = tiny_generator(16)
    fast = FastSynthesis(G.synthesis)
    with pytest.raises(ValueError, match="ws must be"):
        fast(torch.zeros(1, 3, G.w_dim))
    with pytest.raises(ValueError, match="noise_mode"):
        fast(torch.zeros(1, G.num_ws, G.w_dim), noise_mode="loud")


def test_content_worker_fast_and_reference_paths_give_the_same_frame():
    G = tiny_generator(32)
    w = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(2)), None)
    req = ContentRequest(w=w, params=Frame.defaults(), dream=False)
    fast = ContentWorker(G, "const", fast=True).produce(req).image
    reference = ContentWorker(G, "const", fast=False).produce(req).image
    assert fast.shape == (32, 32, 3) and fast.dtype == reference.dtype
    # 1e-3 in [-1, 1] is < 0.13 of an 8-bit step: at most a rounding flip.
    assert abs(fast.astype(int) - reference.astype(int)).max() <= 1


def test_choose_torch_threads_leaves_cores_to_the_renderer():
    assert choose_torch_threads(1) == 1
    assert choose_torch_threads(2) == 1
    assert choose_torch_threads(16) == 8


@pytest.mark.parametrize("noise_mode", ["const", "none"])
def test_traced_fast_synthesis_matches_reference(noise_mode):
    from installation.models.fast import trace_synthesis

    G = tiny_generator(32)
    fast = FastSynthesis(G.synthesis)
    ws = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(4)), None)
    traced = trace_synthesis(fast, ws, noise_mode)
    other = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(5)), None)  # not the example
    with torch.no_grad():
        expected = G.synthesis(other, noise_mode=noise_mode)
    with torch.inference_mode():
        got = traced(other)
    torch.testing.assert_close(got, expected, atol=1e-3, rtol=0)


def test_content_worker_traces_once_per_shape():
    G = tiny_generator(16)
    worker = ContentWorker(G, "const")
    w = G.mapping(torch.randn(1, G.z_dim), None)
    for _ in range(2):
        worker.produce(ContentRequest(w=w, params=Frame.defaults(), dream=False))
    assert len(worker._traced) == 1 and next(iter(worker._traced.values())) is not None
