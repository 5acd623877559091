"""Real audio files for tests: 16-bit PCM WAV written with the standard library."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def write_wav(path, samples: np.ndarray, samplerate: int, channels: int = 1) -> Path:
    """Write samples in [-1, 1] (clipped) as 16-bit PCM, mono or the same on both stereo channels."""
    data = np.clip(samples, -1, 1)
    if channels == 2:
        data = np.stack([data, data], axis=1)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(samplerate)
        w.writeframes((data * 32767).astype("<i2").tobytes())
    return Path(path)


def tone(seconds: float, samplerate: int, hz: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    """A sine: [seconds * samplerate] floats."""
    t = np.arange(int(seconds * samplerate)) / samplerate
    return amplitude * np.sin(2 * np.pi * hz * t)
