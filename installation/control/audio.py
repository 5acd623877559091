"""Audio control, in one import: sources (audio_input) and features (audio_features).

Live show, once per frame:
    samples = live.read()                     # LiveAudioInput: never raises, silence without a device
    analyzer.push(samples, gain=snap["audio.gain"])
    features = analyzer.features()            # {'audio.rms': .., 'audio.band0': .., ...}
Offline render, frame k:
    features = track.features_at(k, fps)      # FileAudioInput: frame-exact, deterministic
"""

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
    "LiveAudioInput",
    "RunningRange",
    "decode_audio",
    "feature_names",
]
