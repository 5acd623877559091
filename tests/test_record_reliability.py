"""Nothing recorded is lost (issue #15 items 4 and 5): takes never overwrite each other or any file,
and a full disk keeps what was written, playable, under the final name."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from _tiny_show import write_show

from installation.config import load_show
from installation.record import VideoRecorder, partial_path, read_video, take_path

W, H = 64, 48


def noise(k: int) -> np.ndarray:
    """Incompressible frames, so a small disk fills up within a few of them."""
    return np.random.default_rng(k).integers(0, 256, (H, W, 3), dtype=np.uint8)


# --- item 4: unique takes --------------------------------------------------------------------


def test_six_takes_started_in_the_same_second_are_six_files(tmp_path):
    from installation.show import Show, ShowOptions

    cfg = load_show(write_show(tmp_path, extra='[record]\npath = "takes/take.mp4"\n'))
    paths = []
    with Show(cfg, ShowOptions(headless=True, offline=True)) as show:
        for _ in range(6):
            show.recording.start()
            show.run(frames=2)
            paths.append(show.recording.stop())
    assert None not in paths and len(set(paths)) == 6
    files = sorted((tmp_path / "takes").glob("*.mp4"))
    assert len(files) == 6 and not list((tmp_path / "takes").glob(".*"))
    for f in files:
        assert len(read_video(f)[0]) == 2


def test_take_names_skip_recordings_in_progress(tmp_path):
    first = take_path(tmp_path / "r.mp4", stamp=True)
    partial_path(first).touch()  # being recorded
    second = take_path(tmp_path / "r.mp4", stamp=True)
    assert second != first
    assert take_path(tmp_path / "x.mp4") == tmp_path / "x.mp4"  # free: used as it is


def test_a_recording_never_overwrites_an_existing_file(tmp_path):
    out = tmp_path / "set.mp4"
    out.write_bytes(b"yesterday's set")
    with VideoRecorder(out, 10, (W, H), block=True) as rec:  # the name was free when asked, then taken
        for k in range(3):
            rec.write(noise(k))
    assert out.read_bytes() == b"yesterday's set"
    assert rec.path == tmp_path / "set-2.mp4" and rec.error is None
    assert len(read_video(rec.path)[0]) == 3


# --- item 5: a full disk ---------------------------------------------------------------------


@contextlib.contextmanager
def small_tmpfs(where: Path, size: str):
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the simulated disk-full test covers the logic)")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_full_disk_keeps_a_playable_file_under_the_final_name(tmp_path, caplog):
    # A real 384 KB file system: ffmpeg itself meets ENOSPC (the loop only sees a broken pipe).
    with small_tmpfs(tmp_path / "disk", "384k") as disk:
        out = disk / "set.mp4"
        rec = VideoRecorder(out, 10, (W, H), block=True, crf=0, preset="ultrafast")
        k = 0
        while rec.error is None and k < 2000:
            rec.write(noise(k))
            k += 1
        with caplog.at_level(logging.ERROR):
            rec.close()
        assert rec.disk_full and k < 2000
        assert rec.error.startswith(f"disk full: recording stopped at frame {rec.frames_written}, kept {out}")
        assert any(f"kept {out}" in r.getMessage() for r in caplog.records)
        frames, fps = read_video(out)
        assert 0 < len(frames) == rec.frames_kept <= rec.frames_written and fps == 10
        np.testing.assert_array_equal(frames[0].shape, (H, W, 3))
        assert not partial_path(out).exists() and sorted(p.name for p in disk.iterdir()) == ["set.mp4"]


def test_disk_full_error_keeps_what_was_written_simulated(tmp_path, monkeypatch):
    # The same path without a small file system: the encoder's write raises ENOSPC after 12 frames
    # (simulated at the writer, where ffmpeg's pipe is fed).
    real_encode = VideoRecorder._encode
    sent = []

    def disk_fills_up(self, gen, data):
        if len(sent) == 12:
            raise OSError(errno.ENOSPC, "No space left on device")
        sent.append(1)
        real_encode(self, gen, data)

    monkeypatch.setattr(VideoRecorder, "_encode", disk_fills_up)
    out = tmp_path / "set.mp4"
    rec = VideoRecorder(out, 10, (W, H), block=True)
    for k in range(20):
        rec.write(noise(k))
    rec.close()
    assert rec.disk_full and rec.error.startswith("disk full: recording stopped at frame 12, kept")
    assert len(read_video(out)[0]) == rec.frames_kept == 12
    assert not partial_path(out).exists()


# --- item 6: a live recording follows the wall clock -------------------------------------------


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_loop_woken_twice_per_frame_still_records_real_time(tmp_path):
    # 10 s at fps 10, with the loop running at 20 frames a second (an OSC stream waking it).
    clock = FakeClock()
    out = tmp_path / "live.mp4"
    with VideoRecorder(out, 10, (W, H), wall_clock=True, clock=clock, queue_size=1024) as rec:
        for k in range(200):
            clock.now = 100.0 + k / 20
            rec.write(noise(k))
    frames, fps = read_video(out)
    # the last write is at 9.95 s, in the slot of frame 100 (nearest): 10.1 s of video, not 20 s
    assert fps == 10 and len(frames) == 101
    assert rec.frames_paced == 99


def test_a_slow_loop_is_stretched_to_real_time(tmp_path):
    # 2 s at fps 10 with the loop managing 4 frames a second: each frame fills its time.
    clock = FakeClock()
    out = tmp_path / "slow.mp4"
    with VideoRecorder(out, 10, (W, H), wall_clock=True, clock=clock, queue_size=64) as rec:
        for k in range(9):
            clock.now = 100.0 + k * 0.25
            rec.write(noise(k))
    frames, _ = read_video(out)
    assert len(frames) == rec.frames_written == 21  # slots 0..20 (k = 8 is at 2.0 s)


def test_offline_recording_is_frame_exact(tmp_path):
    clock = FakeClock()  # never moves: offline, time does not matter
    with VideoRecorder(tmp_path / "r.mp4", 10, (W, H), block=True, clock=clock) as rec:
        for k in range(7):
            rec.write(noise(k))
    assert len(read_video(rec.path)[0]) == 7
