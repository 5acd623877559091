"""Shared fixtures: headless EGL (one skip rule), one torch thread where a module asks, a tiny
G + D checkpoint, a tiny show file."""

import contextlib
import subprocess
import threading

import numpy as np
import pytest
import torch

from installation.render.shaders import ShaderLibrary
from installation.render.window import HeadlessWindow

# Parameters that turn every pass of the chain into (near) identity.
NEUTRAL = {
    "warp.swirl": 0.0,
    "warp.flow": 0.0,
    "feedback.amount": 0.0,
    "grade.contrast": 1.0,
    "grade.saturation": 1.0,
    "grade.vignette": 0.0,
}


@contextlib.contextmanager
def first_frame_shown(cmd: list[str], cwd, env: dict, timeout: float = 120):
    """Start an `installation` subprocess and yield (proc, stderr lines so far) once it has shown
    its first frame; on leaving, kill it if it still runs and let the stderr reader finish."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    started = threading.Event()

    def read_stderr():
        for line in proc.stderr:
            lines.append(line)
            if "first frame shown" in line:
                started.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert started.wait(timeout), "".join(lines)[-3000:]
        yield proc, lines
    finally:
        if proc.poll() is None:
            proc.kill()
        reader.join(5)


def wait_for(cond, timeout: float = 3.0) -> bool:
    """Poll cond() until it holds or `timeout` seconds pass (a bounded wait for a server thread,
    not a timing assertion); the last answer of cond()."""
    import time

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.005)
    return cond()


def smooth_frame(w: int, h: int, k: float = 0) -> np.ndarray:
    """A smooth uint8 image [h, w, 3] (smooth, so bilinear differences stay small); k shifts it."""
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    rgb = np.stack([np.sin(6 * x + k), np.cos(5 * y - k), np.sin(4 * (x + y) + 1)], axis=2)
    return np.round((rgb * 0.5 + 0.5) * 255).astype(np.uint8)


def seeded(*shape, seed=5) -> torch.Tensor:
    """A reproducible standard-normal tensor of this shape."""
    return torch.randn(list(shape), generator=torch.Generator().manual_seed(seed))


def open_headless(width: int = 16, height: int = 16) -> HeadlessWindow:
    """A headless EGL window; the one place a test skips (saying why) where EGL is missing."""
    try:
        return HeadlessWindow(width, height)
    except RuntimeError as e:
        pytest.skip(f"no headless OpenGL: {e}")


@pytest.fixture
def headless_window():
    """Factory: headless_window(w, h) opens a window that is closed after the test."""
    opened = []

    def make(width: int = 16, height: int = 16) -> HeadlessWindow:
        opened.append(open_headless(width, height))
        return opened[-1]

    yield make
    for window in opened:
        window.close()


@pytest.fixture(scope="module")
def ctx():
    """A 16x16 headless GL context for the module."""
    window = open_headless()
    yield window.ctx
    window.close()


@pytest.fixture(scope="module")
def gl(ctx):
    """The context plus a shader library on the shipped shaders/."""
    library = ShaderLibrary(ctx)
    yield ctx, library
    library.release()


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread for the module (`pytestmark = pytest.mark.usefixtures(...)`): tiny
    convolutions on a small shared machine lose 5-50x to OpenMP threads spin-waiting for each other."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A seeded 16 px G_ema + D checkpoint (D for the discriminator dreamer), written once per module."""
    from installation.models.checkpoint import save_checkpoint
    from installation.models.stylegan2 import Discriminator, Generator

    torch.manual_seed(0)
    G = Generator(z_dim=32, c_dim=0, w_dim=32, img_resolution=16, img_channels=3,
                  mapping_kwargs={"num_layers": 2}, synthesis_kwargs={"channel_base": 256, "channel_max": 32})
    D = Discriminator(c_dim=0, img_resolution=16, img_channels=3, channel_base=256, channel_max=32)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(path, G_ema=G, D=D)
    return path
