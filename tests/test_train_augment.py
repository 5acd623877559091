"""ADA augmentations and the adaptive p."""

import pytest
import torch

from installation.train.augment import DEFAULT_STRENGTHS, AdaptiveP, AugmentPipe


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py: one intra-op torch thread


def _images(n=6, res=16, seed=0):
    return torch.rand(n, 3, res, res, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_p_zero_is_identity():
    x = _images()
    assert torch.equal(AugmentPipe(p=0.0)(x), x)


@pytest.mark.parametrize("name", sorted(DEFAULT_STRENGTHS))
def test_each_transform_changes_images_keeps_shape_and_passes_gradient(name):
    x = _images().requires_grad_(True)
    pipe = AugmentPipe(p=1.0, strengths={name: 1.0})
    y = pipe(x, torch.Generator().manual_seed(1))
    assert y.shape == x.shape
    assert not torch.allclose(y, x)  # with p=1 every image is transformed (6 images: some differ)
    y.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_blit_transforms_are_exact_pixel_permutations():
    # xflip, rot90 and integer translation must not blur: every output pixel is an input pixel
    # (reflection padding repeats pixels, so compare value sets per image).
    x = _images(n=8)
    y = AugmentPipe(p=1.0, strengths={"xflip": 1, "rotate90": 1, "xint": 1})(x, torch.Generator().manual_seed(2))
    for xi, yi in zip(x, y):
        nearest = (yi.reshape(-1, 1) - xi.reshape(1, -1)).abs().min(dim=1).values
        assert nearest.max() < 1e-5


def test_xflip_alone_gives_image_or_its_mirror():
    x = _images(n=8)
    y = AugmentPipe(p=1.0, strengths={"xflip": 1})(x, torch.Generator().manual_seed(3))
    for xi, yi in zip(x, y):
        assert torch.allclose(yi, xi, atol=1e-5) or torch.allclose(yi, xi.flip(-1), atol=1e-5)


def test_unknown_transform_is_an_error():
    with pytest.raises(ValueError, match="unknown transform"):
        AugmentPipe(strengths={"wobble": 1.0})


def test_adaptive_p_rises_when_D_overfits_and_falls_otherwise():
    ada = AdaptiveP(target=0.6, speed_kimg=1.0)
    for _ in range(5):  # D says "real" with confidence on every real image: r_t = 1 > 0.6
        ada.accumulate(torch.full((64, 1), 3.0))
        ada.update(num_images=64)
    assert ada.last_rt == 1.0
    high = ada.p
    assert high == pytest.approx(5 * 64 / 1000)
    for _ in range(3):  # D unsure: half the signs negative, r_t = 0 < 0.6
        ada.accumulate(torch.cat([torch.ones(32, 1), -torch.ones(32, 1)]))
        ada.update(num_images=64)
    assert ada.p == pytest.approx(high - 3 * 64 / 1000)
    for _ in range(20):  # never below 0
        ada.accumulate(-torch.ones(8, 1))
        ada.update(num_images=64)
    assert ada.p == 0.0
    restored = AdaptiveP()
    restored.load_state_dict(ada.state_dict())
    assert restored.state_dict() == ada.state_dict()
