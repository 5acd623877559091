"""The content worker in its own process: the thread worker's frames, and the watchdog's replacement."""

from __future__ import annotations

from functools import partial

import os
import signal
import time

import numpy as np
import pytest
import torch

from installation.config import load_show
from installation.content import ContentRequest, ContentWorker, ProcessContentWorker, WorkerSpec, make_live_dreamer
from installation.models.checkpoint import load_generator
from installation.show import Show, ShowOptions
from _tiny_show import run_until, write_show


def wait_for_frame(worker, timeout: float = 60.0):
    """The process worker's next frame (its start, a spawn plus torch import, takes seconds)."""
    give_up = time.perf_counter() + timeout
    while time.perf_counter() < give_up:
        frame = worker.take()
        if frame is not None:
            return frame
        time.sleep(0.01)
    raise AssertionError(f"no frame from the worker process in {timeout} s (alive: {worker.alive})")


def test_process_worker_makes_the_thread_workers_frames(tiny_checkpoint):
    device = torch.device("cpu")
    G = load_generator(tiny_checkpoint, device)
    dream = {"net": "discriminator", "checkpoint": tiny_checkpoint, "weights": None, "layer": "b8",
             "resolution": 16, "octaves": 2, "steps_per_frame": 1}
    params = {"dream.strength": 1.0, "dream.step": 0.2, "dream.decay": 1.0}
    thread = ContentWorker(G, "const", make_live_dreamer(device, **dream), threads=1)
    proc = ProcessContentWorker(WorkerSpec(tiny_checkpoint, "cpu", "const", threads=1, dream=dream), dreamer=True)
    proc.start()
    try:
        for seed, dreamed in [(1, False), (2, True), (3, True)]:
            with torch.no_grad():
                w = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(seed)), None)
            expected = thread.produce(ContentRequest(w=w, params=params, dream=dreamed)).image
            proc.submit(w, params, dreamed)
            got = wait_for_frame(proc)
            assert got.image.dtype == np.uint8 and got.image.shape == expected.shape == (16, 16, 3)
            assert np.array_equal(got.image, expected), f"seed {seed}, dream {dreamed}"
        assert proc.frames_made == 3 and proc.errors == 0 and proc.content_fps() > 0
    finally:
        proc.stop()
    assert not proc.alive


def test_newest_request_wins(tiny_checkpoint):
    """Requests posted faster than the child works: it makes the newest, not a backlog."""
    G = load_generator(tiny_checkpoint, torch.device("cpu"))
    proc = ProcessContentWorker(WorkerSpec(tiny_checkpoint, "cpu", "const", threads=1))
    proc.start()
    try:
        ws = [G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(s)), None).detach()
              for s in range(50)]
        for w in ws:  # the child is still starting: each replaces the last
            proc.submit(w, {}, False)
        frame = wait_for_frame(proc)
        assert frame.serial == len(ws), "a stale request was made first"
        expected = ContentWorker(G, "const", threads=1).produce(ContentRequest(w=ws[-1], params={}, dream=False))
        assert np.array_equal(frame.image, expected.image)
        time.sleep(0.5)
        assert proc.take() is None and proc.frames_made == 1, "stale requests were made after the newest"
    finally:
        proc.stop()


def process_show(tmp_path, **options):
    cfg = load_show(write_show(tmp_path, fps=30), ["model.worker='process'"])
    return Show(cfg, ShowOptions(headless=True, offline=False, **options))


run_until = partial(run_until, max_frames=900)


@pytest.mark.parametrize("how", ["killed", "stopped"])
def test_the_watchdog_replaces_a_dead_or_stuck_worker_process(tmp_path, how):
    with process_show(tmp_path, gallery=True, watchdog_seconds=8.0) as show:
        assert isinstance(show.worker, ProcessContentWorker)
        assert run_until(show, lambda: show.stats.content_frames >= 2)
        old = show.worker
        os.kill(old.pid, signal.SIGKILL if how == "killed" else signal.SIGSTOP)
        assert run_until(show, lambda: show.stats.worker_restarts >= 1)
        assert show.worker is not old and not old.alive, "the old process is ended, not left behind"
        made = show.stats.content_frames
        assert run_until(show, lambda: show.stats.content_frames >= made + 3)
        assert show.worker.alive


def test_offline_renders_stay_in_process(tmp_path):
    cfg = load_show(write_show(tmp_path), ["model.worker='process'"])
    with Show(cfg, ShowOptions(headless=True, offline=True)) as show:
        assert isinstance(show.worker, ContentWorker)


class _StartingWorker:
    """Stands in for a worker process that has not made its first frame yet."""
    start_grace_seconds = 60.0
    alive, frames_made, errors = True, 0, 0

    def stop(self, timeout=None):
        self.alive = False


def test_the_watchdog_waits_for_a_starting_worker_process_then_holds_it_to_the_limit(tmp_path):
    with process_show(tmp_path, gallery=True, watchdog_seconds=8.0) as show:
        show.worker.stop(timeout=0)
        starting = show.worker = _StartingWorker()
        show._wd_progress = None  # as run() leaves it at the start
        show._watch_worker(100.0)
        show._watch_worker(100.0 + 30)  # past watchdog_seconds, inside the start grace
        assert show.worker is starting and show.stats.worker_restarts == 0
        starting.frames_made = 1  # started: from now on the usual limit
        show._watch_worker(131.0)
        show._watch_worker(131.0 + 9)
        assert show.worker is not starting and show.stats.worker_restarts == 1
        assert not starting.alive
