"""The latent director: keyframe changes crossfade in W; audio features move w each frame."""

from __future__ import annotations

import pytest
import torch

from installation.config import validate_show
from installation.latent_director import LatentDirector
from installation.live import Frame
from installation.models.checkpoint import random_generator


@pytest.fixture(scope="module")
def G():
    return random_generator(3, 16)


def _director(G, **latent) -> LatentDirector:
    cfg = validate_show({"model": {"checkpoint": "random:3:16"}, "latent": {"seeds": [1, 2, 3], **latent}})
    return LatentDirector(cfg, G, torch.device("cpu"))


def test_new_keyframes_crossfade_in_w_from_the_last_w(G):
    director = _director(G)
    frame = Frame.defaults()
    last = director.step(frame, 0.1)
    director.set_keyframes([7, 8], fade=1.0)
    assert director.fading
    first = director.step(frame, 0.01)  # 1% into the fade: still next to the old w
    assert torch.allclose(first, last, atol=0.05 * float((last - director.trajectory.w(0.7)).abs().max()) + 1e-6)
    for _ in range(11):
        director.step(frame, 0.1)
    assert not director.fading


def test_the_same_keyframes_are_not_rebuilt(G):
    director = _director(G)
    before = director.trajectory
    director.set_keyframes(None, fade=1.0)
    assert director.trajectory is before and not director.fading


def test_band_energies_move_w_only_when_band_motion_is_on(G, tmp_path, monkeypatch):
    monkeypatch.setattr("installation.latent_director.PCA_CACHE", tmp_path)
    features = {f"audio.band{i}": 1.0 for i in range(8)}
    still, moved = _director(G), _director(G)
    off = Frame.from_values({"latent.speed": 0.0})
    on = Frame.from_values({"latent.speed": 0.0, "audio.band_motion": 4.0})
    a = still.step(off, 0.1, features)
    b = moved.step(on, 0.1, features)
    assert not torch.allclose(a, b)
    assert torch.equal(a, still.step(off, 0.1, features))  # speed 0, no modulation: w holds
