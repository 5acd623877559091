"""Audio features on synthetic signals, file decoding through real ffmpeg, live input without a device."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import pytest
from _audio_files import write_wav

from installation.control.audio import (
    PITCH_CLASSES,
    AudioAnalyzer,
    AudioDecodeError,
    FileAudioInput,
    FrameAlignedAnalysis,
    LiveAudioInput,
    feature_names,
)

SR = 44100
FPS = 30.0


def click_track(bpm: float = 120.0, seconds: float = 8.0, first: float = 0.3, seed: int = 0):
    """Short decaying noise bursts (4 ms decay) on every beat; returns (samples, click times)."""
    x = np.zeros(int(SR * seconds), np.float32)
    rng = np.random.default_rng(seed)
    times = np.arange(first, seconds, 60.0 / bpm)
    n = int(0.02 * SR)
    env = np.exp(-np.arange(n) / (0.004 * SR))
    for t in times:
        i = int(round(t * SR))
        burst = (0.5 * rng.standard_normal(n) * env).astype(np.float32)
        x[i : i + n] += burst[: x.size - i]
    return x, times


def circular_distance(a: float, b: float) -> float:
    d = abs(a - b) % 1.0
    return min(d, 1.0 - d)


@pytest.fixture(scope="module")
def click_frames():
    x, times = click_track(120.0)
    analysis = FrameAlignedAnalysis(x, SR, FPS)
    frames = [analysis.features_at(k) for k in range(analysis.frame_count)]
    return x, times, frames


def test_click_track_onsets_within_one_frame(click_frames):
    _, times, frames = click_frames
    onset_frames = np.array([k for k, f in enumerate(frames) if f["audio.onset"] == 1.0])
    click_frames_exact = times * FPS  # fractional frame of each click
    late = click_frames_exact[click_frames_exact > FPS]  # after one second of warm-up
    # every click has an onset within one frame, and every onset is near a click
    for c in late:
        assert np.min(np.abs(onset_frames - c)) <= 1.0, f"no onset within a frame of click at frame {c:.2f}"
    for k in onset_frames[onset_frames > FPS]:
        assert np.min(np.abs(click_frames_exact - k)) <= 1.0, f"onset at frame {k} is not near a click"
    assert len(onset_frames[onset_frames > FPS + 1]) == len(late)


def test_click_track_tempo_and_beat_phase(click_frames):
    _, times, frames = click_frames
    assert frames[-1]["audio.tempo"] == pytest.approx(120.0, abs=2.0)
    assert 0.0 <= frames[-1]["audio.tempo_norm"] <= 1.0
    # in the last half, the beat phase is near 0 on every click frame
    for t in times[times > 4.0]:
        k = int(round(t * FPS))
        assert circular_distance(frames[k]["audio.beat"], 0.0) < 0.15, (t, frames[k]["audio.beat"])


@pytest.mark.parametrize("bpm", [90.0, 150.0])
def test_other_tempi(bpm):
    x, _ = click_track(bpm, seconds=7.0)
    a = AudioAnalyzer(SR)
    a.push(x)
    assert a.tempo_bpm == pytest.approx(bpm, abs=2.0)


def test_live_style_streaming_onset_times():
    """Fed in frame-sized blocks like a live input: each onset's estimated time is near its click."""
    x, times = click_track(120.0, seconds=5.0)
    a = AudioAnalyzer(SR, fps=FPS)
    block = int(SR / FPS)
    pulses = 0
    for i in range(0, x.size, block):
        a.push(x[i : i + block])
        pulses += a.features()["audio.onset"] == 1.0
    est = np.array(a.onset_times) - a.peak_latency / SR
    assert len(est) == len(times) == pulses
    assert np.max(np.abs(est - times)) < 1.0 / FPS


def test_louder_signal_has_higher_rms():
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(SR).astype(np.float32)
    quiet, loud = AudioAnalyzer(SR), AudioAnalyzer(SR)
    quiet.push(0.02 * noise)
    loud.push(0.4 * noise)
    fq, fl = quiet.features(), loud.features()
    assert fl["audio.rms"] > fq["audio.rms"]
    assert fl["audio.level_db"] > fq["audio.level_db"] + 20.0  # 20x louder is +26 dB
    # within one analyser: quiet, then loud
    a = AudioAnalyzer(SR)
    a.push(0.02 * noise)
    before = a.features()["audio.rms"]
    a.push(0.4 * noise[: SR // 4])
    assert a.features()["audio.rms"] > before + 0.2


def test_sine_440_is_pitch_class_a():
    t = np.arange(SR) / SR
    a = AudioAnalyzer(SR)
    a.push(0.5 * np.sin(2 * np.pi * 440.0 * t))
    f = a.features()
    chroma = np.array([f[f"audio.chroma{i}"] for i in range(12)])
    assert PITCH_CLASSES[int(np.argmax(chroma))] == "A"
    assert chroma[9] > 0.9 and np.delete(chroma, 9).max() < 0.3
    # the band holding 440 Hz is the loudest
    bands = np.array([f[f"audio.band{i}"] for i in range(8)])
    edges = np.geomspace(40.0, 16000.0, 9)
    assert int(np.argmax(bands)) == int(np.searchsorted(edges, 440.0) - 1)


def test_silence_and_garbage_are_calm():
    a = AudioAnalyzer(SR, bands=4)
    a.push(np.zeros(SR, np.float32))
    a.push(np.array([np.nan, np.inf, -np.inf] * 1000, np.float32))
    f = a.features()
    assert set(f) == set(feature_names(4))
    assert all(np.isfinite(v) for v in f.values())
    assert f["audio.onset"] == 0.0 and f["audio.tempo"] == 0.0 and f["audio.rms"] < 0.05


def test_steady_noise_gives_no_onsets():
    a = AudioAnalyzer(SR)
    a.push(0.3 * np.random.default_rng(2).standard_normal(4 * SR).astype(np.float32))
    assert a.onset_times == []


def test_frame_aligned_analysis_is_deterministic_in_any_order():
    x, _ = click_track(120.0, seconds=3.0)
    a = FrameAlignedAnalysis(x, SR, FPS)
    seq = [a.features_at(k) for k in range(60)]
    b = FrameAlignedAnalysis(x, SR, FPS)
    assert b.features_at(40) == seq[40]  # skipping ahead runs the frames between
    assert b.features_at(40) == seq[40]  # asking again
    assert b.features_at(10) == seq[10]  # going back restarts
    assert a.features_at(200)["audio.rms"] < 0.1  # past the end: silence


def test_file_input_decodes_a_real_file(tmp_path):
    sr_file = 22050  # resampled to SR by ffmpeg
    t = np.arange(int(1.5 * sr_file)) / sr_file
    tone = 0.5 * np.sin(2 * np.pi * 440.0 * t)
    path = tmp_path / "tone.wav"
    write_wav(path, tone, sr_file, channels=2)
    track = FileAudioInput(path, samplerate=SR)
    assert track.samples.dtype == np.float32
    assert abs(track.samples.size - int(1.5 * SR)) <= 64
    assert track.duration == pytest.approx(1.5, abs=0.01)
    # content: a 440 Hz sine of amplitude 0.5
    mid = track.samples[SR // 4 : SR]
    assert np.sqrt(np.mean(mid**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.02)  # stereo averaged, not summed
    spectrum = np.abs(np.fft.rfft(mid * np.hanning(mid.size)))
    peak_hz = np.argmax(spectrum) * SR / mid.size
    assert peak_hz == pytest.approx(440.0, abs=2.0)
    f = track.features_at(30, FPS)
    assert f["audio.chroma9"] > 0.9
    assert track.frame_count(FPS) == 45


def test_file_input_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.wav"):
        FileAudioInput(tmp_path / "nope.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(AudioDecodeError, match="bad.wav"):
        FileAudioInput(bad)


def test_live_input_missing_device_warns_and_yields_silence(caplog):
    caplog.set_level(logging.WARNING)
    live = LiveAudioInput(device="no-such-device-xyz", samplerate=SR, blocksize=512)
    live.start()
    try:
        assert not live.ok
        assert "no-such-device-xyz" in caplog.text and "silence" in caplog.text
        x = poll(live.read, lambda x: x.size > 0)  # silence arrives at the input's own pace
        assert x.dtype == np.float32 and x.size > 0 and not x.any()
        assert live.read().size <= SR  # bounded
    finally:
        live.stop()


def poll(read, done, timeout: float = 3.0):
    """read() until done(value) or the deadline; the last value (a bounded wait, not a timing)."""
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.005)
        value = read()
    return value


class VanishingStream:
    """Stands in for sounddevice.InputStream (this machine has no audio device): delivers
    `blocks` callbacks from its own thread, then goes quiet as an unplugged device does."""

    opened = 0

    def __init__(self, *, callback, blocksize, channels, blocks=5, **_):
        VanishingStream.opened += 1
        if VanishingStream.opened > 1:
            raise OSError("device gone")
        self.callback, self.blocksize, self.channels, self.blocks = callback, blocksize, channels, blocks
        self.active = True

    def start(self):
        def run():
            for _ in range(self.blocks):
                self.callback(np.full((self.blocksize, self.channels), 0.25, np.float32), self.blocksize, None, None)
                time.sleep(0.002)
        threading.Thread(target=run, daemon=True).start()

    def stop(self):
        self.active = False

    def close(self):
        pass


def test_live_input_vanished_device_goes_silent(caplog):
    caplog.set_level(logging.WARNING)
    VanishingStream.opened = 0
    live = LiveAudioInput(samplerate=SR, blocksize=256, stall_seconds=0.3, reconnect_seconds=0.2,
                          stream_factory=VanishingStream).start()
    try:
        deadline = time.monotonic() + 3.0
        got = np.zeros(0, np.float32)
        while got.size < 5 * 256 and time.monotonic() < deadline:
            got = np.concatenate([got, live.read()])
            time.sleep(0.01)
        assert got.size == 5 * 256 and np.all(got == 0.25)
        while live.ok and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not live.ok and "stopped delivering audio" in caplog.text
        assert poll(lambda: VanishingStream.opened, lambda n: n >= 2) >= 2  # a reconnect was tried (and failed)
        assert not live.read().any()
    finally:
        live.stop()


def test_live_audio_features_without_a_device_gives_every_key(caplog):
    from installation.config import AudioSection
    from installation.control.audio import LiveAudioFeatures

    caplog.set_level(logging.WARNING)
    live = LiveAudioFeatures(AudioSection(enabled=True, device="no-such-device-xyz", bands=5), fps=FPS).start()
    try:
        f = live.update(gain=2.0)
        assert set(f) == set(feature_names(5))
        assert f["audio.rms"] == 0.0 and f["audio.onset"] == 0.0
        assert live.status.startswith("silent")
    finally:
        live.stop()
