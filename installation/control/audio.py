"""Audio control, in one import: sources (audio_input) and features (audio_features).

Live show (`LiveAudioFeatures` does exactly this), once per frame:
    samples = live.read()                     # LiveAudioInput: never raises, silence without a device
    analyzer.push(samples, gain=snap["audio.gain"])
    features = analyzer.features()            # {'audio.rms': .., 'audio.band0': .., ...}
Offline render, frame k:
    features = track.features_at(k, fps)      # FileAudioInput: frame-exact, deterministic
"""

from installation.config import AudioSection
from installation.control.audio_features import (
    PITCH_CLASSES,
    AudioAnalyzer,
    FrameAlignedAnalysis,
    RunningRange,
    feature_names,
)
from installation.control.audio_input import AudioDecodeError, FileAudioInput, LiveAudioInput, decode_audio

__all__ = [
    "PITCH_CLASSES",
    "AudioAnalyzer",
    "AudioDecodeError",
    "FileAudioInput",
    "FrameAlignedAnalysis",
    "LiveAudioFeatures",
    "LiveAudioInput",
    "RunningRange",
    "decode_audio",
    "feature_names",
]


class LiveAudioFeatures:
    """The live input and its analyser together, from the show's [audio] section.

    `start()` never raises (no device: a warning, then silence); `update(gain)` once per frame
    on the frame loop returns the feature dict (all keys present from the first frame).
    """

    def __init__(self, cfg: AudioSection, fps: float):
        self.input = LiveAudioInput(cfg.device, cfg.samplerate, cfg.blocksize)
        self.analyzer = AudioAnalyzer(cfg.samplerate, bands=cfg.bands, fps=fps)
        self.samplerate = cfg.samplerate
        self.tap = None  # called with each frame's samples (a performance log records them)

    def start(self) -> "LiveAudioFeatures":
        self.input.start()
        return self

    def stop(self) -> None:
        self.input.stop()

    def update(self, gain: float = 1.0) -> dict[str, float]:
        samples = self.input.read()
        if self.tap is not None:
            self.tap(samples)
        self.analyzer.push(samples, gain)
        return self.analyzer.features()

    @property
    def status(self) -> str:
        return self.input.status
