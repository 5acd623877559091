"""Audio sources: a live input stream (sounddevice) and an audio file (imageio-ffmpeg).

Both give mono float32 samples. Neither stops the show:
- `LiveAudioInput`: a missing device, a PortAudio failure or a device that vanishes mid-show
  is a logged warning; `read()` then returns silence of the elapsed length, and a supervisor
  thread tries to open the device again every few seconds.
- `FileAudioInput`: decodes once, up front (errors name the file), then serves frame-exact
  features for offline renders through `features_at(frame_index, fps)`.

The PortAudio callback only copies samples into a bounded queue; the analysis runs where
`read()` is called (the frame loop), so the audio thread never waits on numpy.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable

import numpy as np

from installation.control.audio_features import FrameAlignedAnalysis

log = logging.getLogger(__name__)


class AudioDecodeError(ValueError):
    """An audio file ffmpeg cannot decode; the message names the file."""


class LiveAudioInput:
    """Live mono input. `start()` never raises; `read()` returns the samples since the last
    read (silence when there is no working device), at most `max_seconds` of them."""

    def __init__(
        self,
        device: str | int | None = None,
        samplerate: int = 44100,
        blocksize: int = 1024,
        max_seconds: float = 1.0,
        reconnect_seconds: float = 5.0,
        stall_seconds: float = 2.0,
        stream_factory: Callable[..., Any] | None = None,
    ):
        self.device = device
        self.samplerate = int(samplerate)
        self.blocksize = int(blocksize)
        self.max_samples = int(max_seconds * self.samplerate)
        self.reconnect_seconds = float(reconnect_seconds)
        self.stall_seconds = float(stall_seconds)
        self._stream_factory = stream_factory  # for tests; default: sounddevice.InputStream
        self._lock = threading.Lock()
        self._blocks: deque[np.ndarray] = deque()
        self._queued = 0
        self._stream = None
        self._last_callback = 0.0
        self._last_read = time.monotonic()
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._warned = False
        self.status = "not started"
        self.counters = {"overflows": 0, "dropped_samples": 0, "reconnects": 0}

    @property
    def ok(self) -> bool:
        """True while a device stream is delivering samples."""
        return self._stream is not None

    def _describe(self) -> str:
        return "the default input device" if self.device is None else f"audio input device {self.device!r}"

    def start(self) -> "LiveAudioInput":
        self._stop.clear()
        self._last_read = time.monotonic()
        self._open()
        if self._supervisor is None:
            self._supervisor = threading.Thread(target=self._supervise, name="audio-supervisor", daemon=True)
            self._supervisor.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(2.0)
            self._supervisor = None
        self._close()
        self.status = "stopped"

    def __enter__(self) -> "LiveAudioInput":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- device handling --

    def _open(self) -> bool:
        try:
            factory = self._stream_factory
            channels = 1
            if factory is None:
                import sounddevice as sd  # PortAudio may be missing: that is a warning too

                factory = sd.InputStream
                if self._warned:  # retrying: PortAudio lists devices once, so refresh the list
                    try:
                        sd._terminate()
                        sd._initialize()
                    except Exception:
                        pass
                info = sd.query_devices(self.device, "input")
                channels = max(1, min(2, int(info["max_input_channels"])))
            stream = factory(
                device=self.device, samplerate=self.samplerate, blocksize=self.blocksize,
                channels=channels, dtype="float32", callback=self._callback,
            )
            self._last_callback = time.monotonic()
            stream.start()
        except Exception as e:  # ValueError (no such device), PortAudioError, OSError (no PortAudio)
            self.status = f"silent: {self._describe()} is unavailable ({e})"
            if not self._warned:
                log.warning("Audio: %s is unavailable (%s); going on with silence, retrying every %.0f s",
                            self._describe(), e, self.reconnect_seconds)
                self._warned = True
            return False
        if self._warned:
            log.warning("Audio: %s is back", self._describe())
            self.counters["reconnects"] += 1
        self._warned = False
        self._stream = stream
        self.status = "ok"
        return True

    def _close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception:
                pass  # a vanished device may fail to close; it is gone either way

    def _supervise(self) -> None:
        next_try = time.monotonic() + self.reconnect_seconds
        while not self._stop.wait(0.25):
            now = time.monotonic()
            stream = self._stream
            if stream is not None:
                stalled = now - self._last_callback > self.stall_seconds
                inactive = getattr(stream, "active", True) is False
                if stalled or inactive:
                    self.status = f"silent: {self._describe()} stopped delivering audio"
                    log.warning("Audio: %s stopped delivering audio; going on with silence", self._describe())
                    self._warned = True
                    self._close()
                    next_try = now + self.reconnect_seconds
            elif now >= next_try:
                self._open()
                next_try = now + self.reconnect_seconds

    def _callback(self, indata, frames, time_info, status) -> None:  # PortAudio's thread
        if status:
            self.counters["overflows"] += 1
        block = indata[:, 0].copy() if indata.shape[1] == 1 else indata.mean(axis=1, dtype=np.float32)
        with self._lock:
            self._blocks.append(block)
            self._queued += block.size
            while self._queued > self.max_samples and self._blocks:  # nobody reads: keep the newest
                old = self._blocks.popleft()
                self._queued -= old.size
                self.counters["dropped_samples"] += old.size
        self._last_callback = time.monotonic()

    # -- the frame loop's side --

    def read(self) -> np.ndarray:
        """Mono float32 samples since the last read; silence of the elapsed time without a device."""
        now = time.monotonic()
        elapsed = now - self._last_read
        self._last_read = now
        with self._lock:
            blocks = list(self._blocks)
            self._blocks.clear()
            self._queued = 0
        if blocks:
            return np.concatenate(blocks)
        if self._stream is None:
            n = min(int(round(elapsed * self.samplerate)), self.max_samples)
            return np.zeros(n, np.float32)
        return np.zeros(0, np.float32)  # a working stream between two callbacks


def decode_audio(path: str | Path, samplerate: int = 44100) -> np.ndarray:
    """Any audio (or video) file -> mono float32 at `samplerate`, with imageio-ffmpeg's ffmpeg."""
    import imageio_ffmpeg

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"audio file not found: {path}")
    cmd = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error",
        "-i", str(path), "-vn", "-map", "0:a:0",
        # rematrix_maxval 1: a downmix averages the channels (ffmpeg's default is -3 dB each,
        # which lifts a stereo track by 3 dB and can clip)
        "-f", "f32le", "-acodec", "pcm_f32le", "-ac", "1", "-rematrix_maxval", "1.0", "-ar", str(int(samplerate)), "-",
    ]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise AudioDecodeError(f"{path}: ffmpeg cannot decode it as audio: {' / '.join(err[-3:]) or 'no detail'}")
    samples = np.frombuffer(proc.stdout, dtype="<f4").astype(np.float32)
    if samples.size == 0:
        raise AudioDecodeError(f"{path}: no audio samples (no audio stream, or empty)")
    return samples


class FileAudioInput:
    """A decoded audio file, for audio-driven offline renders."""

    def __init__(self, path: str | Path, samplerate: int = 44100, bands: int = 8):
        self.path = Path(path)
        self.samplerate = int(samplerate)
        self.bands = int(bands)
        self.samples = decode_audio(self.path, self.samplerate)  # [n] float32 mono
        self._analysis: FrameAlignedAnalysis | None = None

    @property
    def duration(self) -> float:
        return self.samples.size / self.samplerate

    def frame_count(self, fps: float) -> int:
        """Frames a render at `fps` needs to cover the whole track."""
        return int(np.ceil(self.samples.size * fps / self.samplerate))

    def features_at(self, frame_index: int, fps: float, gain: float = 1.0) -> dict[str, float]:
        """Features for frame k of a render at `fps` (the audio around k / fps); deterministic."""
        if self._analysis is None or self._analysis.fps != float(fps):
            self._analysis = FrameAlignedAnalysis(self.samples, self.samplerate, fps, bands=self.bands)
        return self._analysis.features_at(frame_index, gain)
