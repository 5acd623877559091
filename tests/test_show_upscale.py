"""show.upscale = "learned": the content worker hands the shaders x4 frames from the upscaler file."""

from __future__ import annotations

import pytest
import torch

from installation.config import validate_show
from installation.content import ContentRequest, ContentWorker
from installation.live import Frame
from installation.models.checkpoint import random_generator
from installation.models.upscaler import UpscalerNet, load_upscaler, save_upscaler

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_worker_upscales_x4_with_the_file(tmp_path):
    torch.manual_seed(0)
    save_upscaler(tmp_path / "x4.pt", UpscalerNet(channels=4, layers=1))
    G = random_generator(3, 16)
    w = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(0)), None)
    plain = ContentWorker(G, "const").produce(ContentRequest(w, Frame.defaults(), False)).image
    up = ContentWorker(G, "const", upscaler=load_upscaler(tmp_path / "x4.pt", "cpu"))
    image = up.produce(ContentRequest(w, Frame.defaults(), False)).image
    assert plain.shape == (16, 16, 3) and image.shape == (64, 64, 3)
    # Downsampled again, the x4 frame is the frame it came from (up to rounding and the net's detail).
    back = image.reshape(16, 4, 16, 4, 3).mean(axis=(1, 3))
    assert abs(back - plain).mean() < 6


def test_the_show_file_names_the_upscaler_and_a_bad_one_fails_before_the_first_frame(tmp_path):
    from installation.show import Show, ShowOptions

    (tmp_path / "bad.pt").write_bytes(b"not an upscaler")
    cfg = validate_show({"model": {"checkpoint": "random:1:16"}, "show": {"upscale": "learned", "upscaler": "bad.pt"}},
                        base_dir=tmp_path)
    with pytest.raises(ValueError, match="bad.pt"):
        Show(cfg, ShowOptions(headless=True, offline=True))
