"""Controls behind the sink: the audio control reads features at the live gain and
publishes them; a control never sees the show."""

from __future__ import annotations

from _audio_files import tone, write_wav

from installation.config import validate_show
from installation.control.sink import ControlSink
from installation.control.wiring import AudioControl
from installation.params import Params


def _audio_control(track, gain: float) -> AudioControl:
    cfg = validate_show({"show": {"fps": 10}, "audio": {"samplerate": 22050, "gain": gain}})
    sink = ControlSink(Params(cfg), post=lambda name, *args: True)
    return AudioControl(cfg, sink, osc=None, audio_file=track)


def test_audio_gain_zero_mutes_the_features(tmp_path):
    track = write_wav(tmp_path / "tone.wav", tone(1.0, 22050), 22050)
    loud, muted = _audio_control(track, 1.0), _audio_control(track, 0.0)  # 0 is a gain, not "unset"
    for frame in range(8):  # 0.8 s into the tone
        loud.frame = muted.frame = frame
        heard, silence = loud.features(), muted.features()
    assert heard["audio.rms"] > 0.5
    assert silence["audio.rms"] == 0.0 and silence["audio.level_db"] <= -100


def test_audio_features_reach_the_sink_each_frame(tmp_path):
    track = write_wav(tmp_path / "tone.wav", tone(1.0, 22050), 22050)
    control = _audio_control(track, 1.0)
    for _ in range(8):
        control.update(0.0, 0.1)
    assert control.sink.features()["audio.rms"] > 0.5
