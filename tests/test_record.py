"""VideoRecorder: real H.264 encodes through imageio-ffmpeg, read back and checked."""

from __future__ import annotations

import re
import signal
import subprocess
import threading

import imageio_ffmpeg
import numpy as np
import pytest
from _audio_files import tone, write_wav

from installation.record import VideoRecorder, finalize_on_signals, partial_path, read_video

from conftest import smooth_frame

W, H, FPS = 64, 48, 10
# H.264 at crf 18 in yuv420p on these ramps: the mean absolute error per channel value measured 1.9-2.1;
# 4 leaves room for encoder versions while any mix-up of frames, channels or rows is far above it.
MAE_TOLERANCE = 4.0


def test_frame(k: int, w: int = W, h: int = H) -> np.ndarray:
    """Smooth ramps (so chroma subsampling costs little) plus a per-frame blue level."""
    f = np.empty((h, w, 3), np.uint8)
    f[..., 0] = np.linspace(0, 255, w, dtype=np.float64)[None, :].round().astype(np.uint8)
    f[..., 1] = np.linspace(0, 255, h, dtype=np.float64)[:, None].round().astype(np.uint8)
    f[..., 2] = 20 + 20 * (k % 12)
    return f


test_frame.__test__ = False  # a helper, not a test


def test_encode_read_back_frames_size_and_content(tmp_path):
    path = tmp_path / "clip.mp4"
    frames = [test_frame(k) for k in range(10)]
    with VideoRecorder(path, FPS, (W, H), block=True) as rec:
        for f in frames:
            assert rec.write(f)
    assert rec.error is None
    assert rec.frames_written == 10 and rec.frames_dropped == 0
    assert path.is_file() and not partial_path(path).exists()
    video, fps = read_video(path)
    assert video.shape == (10, H, W, 3)
    assert fps == pytest.approx(FPS)
    for k, (got, want) in enumerate(zip(video, frames)):
        mae = np.abs(got.astype(np.int16) - want.astype(np.int16)).mean()
        assert mae < MAE_TOLERANCE, (k, mae)
    # Frames are in order (blue level rises 20 per frame) and the top row is first (green ramp).
    blue = video[..., 2].mean(axis=(1, 2))
    assert np.all(np.diff(blue) > 10)
    assert video[0, 0, :, 1].mean() < 20 and video[0, -1, :, 1].mean() > 235


def test_odd_size_is_padded_not_rescaled(tmp_path):
    path = tmp_path / "odd.mp4"
    with VideoRecorder(path, FPS, (W - 1, H - 1), block=True) as rec:
        assert rec.output_size == (W, H)
        for k in range(3):
            rec.write(test_frame(k, W - 1, H - 1))
    video, _ = read_video(path)
    assert video.shape == (3, H, W, 3)
    mae = np.abs(video[1, : H - 1, : W - 1].astype(np.int16) - test_frame(1, W - 1, H - 1)).mean()
    assert mae < MAE_TOLERANCE  # not rescaled: pixels line up with the input


def test_rgba_frames_are_accepted_and_wrong_frames_rejected(tmp_path):
    with VideoRecorder(tmp_path / "a.mp4", FPS, (W, H), block=True) as rec:
        rgba = np.concatenate([test_frame(0), np.full((H, W, 1), 255, np.uint8)], axis=2)
        assert rec.write(rgba)
        with pytest.raises(ValueError, match=r"a\.mp4.*expected uint8 \[48, 64, 3\]"):
            rec.write(np.zeros((H, W + 2, 3), np.uint8))
        with pytest.raises(ValueError, match="expected uint8"):
            rec.write(np.zeros((H, W, 3), np.float32))
    assert rec.frames_written == 1


def test_full_queue_drops_and_counts_without_blocking(tmp_path, monkeypatch):
    release = threading.Event()
    original = VideoRecorder._encode

    def slow_encode(self, gen, data):  # the encoder is stuck until the test lets it go
        release.wait()
        original(self, gen, data)

    monkeypatch.setattr(VideoRecorder, "_encode", slow_encode)
    # If write() ever blocked, this timer would free it after 30 s, and the assert below fails.
    fallback = threading.Timer(30.0, release.set)
    fallback.start()
    try:
        rec = VideoRecorder(tmp_path / "drops.mp4", FPS, (W, H), queue_size=2, block=False)
        accepted = [rec.write(test_frame(k)) for k in range(12)]
        freed_by_timer = release.is_set()
        release.set()
        final = rec.close()
    finally:
        fallback.cancel()
    assert not freed_by_timer
    # One frame may be in the encoder's hands and two in the queue: the rest are dropped.
    assert 2 <= sum(accepted) <= 3
    assert accepted[:2] == [True, True] and not any(accepted[3:])
    assert rec.frames_dropped == 12 - sum(accepted)
    assert rec.frames_written == sum(accepted)
    assert rec.error is None
    video, _ = read_video(final)
    assert len(video) == sum(accepted)


def test_close_is_idempotent_and_write_after_close_is_refused(tmp_path):
    path = tmp_path / "twice.mp4"
    rec = VideoRecorder(path, FPS, (W, H))
    rec.write(test_frame(0))
    assert rec.close() == path
    assert rec.close() == path
    assert rec.write(test_frame(1)) is False
    assert rec.frames_written == 1 and rec.frames_dropped == 1
    assert path.is_file()


def test_unwritable_destination_sets_error_and_never_raises(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    path = blocker / "out.mp4"  # its folder is a regular file: no permissions trick, works as root
    rec = VideoRecorder(path, FPS, (W, H), block=True)
    assert rec.error is not None and "out.mp4" in rec.error
    assert rec.write(test_frame(0)) is False
    rec.close()
    assert not path.exists()
    assert rec.frames_written == 0 and rec.frames_dropped == 1


def test_encoder_error_mid_recording_stops_it_without_raising(tmp_path, monkeypatch):
    original = VideoRecorder._encode
    calls = {"n": 0}

    def failing_encode(self, gen, data):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("No space left on device")
        original(self, gen, data)

    monkeypatch.setattr(VideoRecorder, "_encode", failing_encode)
    path = tmp_path / "full.mp4"
    rec = VideoRecorder(path, FPS, (W, H), queue_size=2, block=True)
    results = [rec.write(test_frame(k % 10)) for k in range(20)]  # block=True must not deadlock
    final = rec.close()
    assert rec.error is not None and "No space left" in rec.error
    assert results[:3] == [True, True, True] and results[-1] is False
    assert rec.frames_written == 2
    assert rec.frames_written + rec.frames_dropped == 20
    assert not final.exists()  # nothing that looks complete


def test_closing_without_frames_reports_it(tmp_path):
    path = tmp_path / "empty.mp4"
    rec = VideoRecorder(path, FPS, (W, H))
    rec.close()
    assert rec.error == "no frames were written"
    assert not path.exists() and not partial_path(path).exists()


def stream_seconds(path, selector: str) -> float:
    """Decoded duration of one stream ('a:0', 'v:0') from ffmpeg's last progress time."""
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "info", "-i", str(path), "-map", f"0:{selector}", "-f", "null", "-"]
    err = subprocess.run(cmd, capture_output=True, text=True).stderr
    times = re.findall(r"time=(\d+):(\d+):([\d.]+)", err)
    assert times, err
    h, m, s = times[-1]
    return int(h) * 3600 + int(m) * 60 + float(s)


def test_audio_is_muxed_with_the_right_duration(tmp_path):
    wav = tmp_path / "tone.wav"
    write_wav(wav, tone(1.0, 22050, amplitude=0.25), 22050)
    path = tmp_path / "with_audio.mp4"
    with VideoRecorder(path, FPS, (W, H), block=True, audio_path=wav) as rec:
        for k in range(FPS):  # 1 s of video
            rec.write(test_frame(k % 10))
    assert rec.error is None
    assert path.is_file() and not partial_path(path).exists()
    assert list(tmp_path.glob(".*")) == []  # no temporary files left behind
    info = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(path)], capture_output=True, text=True).stderr
    assert re.search(r"Stream #0:\d.*Audio: aac", info), info
    assert stream_seconds(path, "a:0") == pytest.approx(1.0, abs=0.06)
    video, _ = read_video(path)
    assert len(video) == FPS


def test_missing_audio_file_sets_error(tmp_path):
    path = tmp_path / "x.mp4"
    with VideoRecorder(path, FPS, (W, H), block=True, audio_path=tmp_path / "nope.wav") as rec:
        rec.write(test_frame(0))
    assert rec.error is not None and "nope.wav" in rec.error
    assert not path.exists()


def test_read_video_names_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="ghost.mp4"):
        read_video(tmp_path / "ghost.mp4")


def test_sigterm_inside_finalize_on_signals_closes_the_recording(tmp_path):
    path = tmp_path / "term.mp4"
    before = signal.getsignal(signal.SIGTERM)
    rec = VideoRecorder(path, FPS, (W, H), block=True)
    with pytest.raises(SystemExit) as exit_info:
        with finalize_on_signals(rec):
            for k in range(5):
                rec.write(test_frame(k))
            signal.raise_signal(signal.SIGTERM)
            for k in range(5, 100):  # never reached: the handler raises at once
                rec.write(test_frame(k % 10))
    assert exit_info.value.code == 128 + signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before  # handlers restored
    assert rec.frames_written == 5
    assert path.is_file() and not partial_path(path).exists()
    assert len(read_video(path)[0]) == 5


def test_partial_path_is_hidden_and_not_mp4(tmp_path):
    p = partial_path(tmp_path / "show.mp4")
    assert p.parent == tmp_path and p.name == ".show.mp4.partial"


def test_a_file_missing_frames_is_not_finalised(tmp_path, monkeypatch):
    # Stands in for ffmpeg failing while writing the trailer (its exit status is not reported).
    monkeypatch.setattr(imageio_ffmpeg, "count_frames_and_secs", lambda path: (2, 0.2))
    path = tmp_path / "short.mp4"
    with VideoRecorder(path, FPS, (W, H), block=True) as rec:
        for k in range(3):
            rec.write(test_frame(k))
    assert rec.error is not None and "holds 2 frames; 3 were encoded" in rec.error
    assert not path.exists() and partial_path(path).exists()


def test_recorder_takes_rgba_frames_like_rgb_ones(tmp_path):
    w, h = 32, 24
    frames = [smooth_frame(w, h, k) for k in range(6)]
    decoded = {}
    for channels in (3, 4):
        path = tmp_path / f"clip{channels}.mp4"
        with VideoRecorder(path, 10, (w, h), block=True, channels=channels) as rec:
            for f in frames:
                if channels == 4:  # as the show writes them: a row-flipped view with alpha
                    rgba = np.concatenate([f[::-1], np.full((h, w, 1), 255, np.uint8)], axis=2)[::-1]
                    assert rec.write(rgba, copy=False)  # as the show does: packed on the writer thread
                else:
                    assert rec.write(f)
        decoded[channels] = read_video(path)[0]
    assert decoded[3].shape == decoded[4].shape == (6, h, w, 3)
    np.testing.assert_array_equal(decoded[3], decoded[4])  # the same input pixels, the same encode
    # and it is the picture, right way up (chroma subsampling of these 32x24 ramps costs ~6; a
    # row flip or a channel mix-up costs far more)
    assert np.abs(decoded[4].astype(int) - np.stack(frames)).mean() < 12.0
    assert np.abs(decoded[4].astype(int) - np.stack(frames)[:, ::-1]).mean() > 30.0


def test_recorder_rejects_other_channel_counts(tmp_path):
    with pytest.raises(ValueError, match="channels"):
        VideoRecorder(tmp_path / "x.mp4", 10, (16, 16), channels=2)
