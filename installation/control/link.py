"""Ableton Link: the show joins the Link session on the local network, and the session's tempo
and beat become the beat features the audio analyser otherwise supplies (audio.tempo,
audio.tempo_norm, audio.beat, audio.beat_pulse; same meaning and ranges, audio_features.py).

Which wins: while Link has at least one peer, Link's beat features replace the analyser's (the
band's clock, not a tracker's guess). Alone, live audio's beat tracking keeps them where audio
runs; without audio, Link's own session clock (at [link] tempo) drives them.

Everything here runs on the frame loop; Link's own threads keep the session.
"""

from __future__ import annotations

import logging
import math

from installation.config import LinkSection
from installation.control.audio_features import TEMPO_MAX, TEMPO_MIN

log = logging.getLogger(__name__)

LINK_MISSING = ("Ableton Link needs the LinkPython-extern package: pip install 'installation[rig]' "
                "(or pip install LinkPython-extern)")
BEAT_FEATURES = ("audio.tempo", "audio.tempo_norm", "audio.beat", "audio.beat_pulse")


def load_link_module():
    """LinkPython-extern's `link` module; its absence is one line naming what to install."""
    try:
        import link
    except ImportError:
        raise RuntimeError(LINK_MISSING) from None
    return link


class LinkClock:
    """One Link peer. `features()` once a frame: the session's tempo and beat phase, and a beat
    pulse when a beat boundary passed since the previous call (so none is lost between frames)."""

    def __init__(self, section: LinkSection):
        self._link = load_link_module().Link(float(section.tempo))
        self.quantum = float(section.quantum)
        self._last_beat: float | None = None
        self._link.enabled = True
        log.info("Ableton Link: joined (%g bpm proposed, quantum %g)", section.tempo, section.quantum)

    @property
    def peers(self) -> int:
        return int(self._link.numPeers())

    def features(self) -> dict[str, float]:
        state = self._link.captureAppSessionState()
        tempo = float(state.tempo())
        beat = float(state.beatAtTime(self._link.clock().micros(), self.quantum))
        pulse = self._last_beat is not None and math.floor(beat) > math.floor(self._last_beat)
        self._last_beat = beat
        return {
            "audio.tempo": tempo,
            "audio.tempo_norm": min(1.0, max(0.0, (tempo - TEMPO_MIN) / (TEMPO_MAX - TEMPO_MIN))),
            "audio.beat": beat % 1.0,
            "audio.beat_pulse": 1.0 if pulse else 0.0,
        }

    def over(self, features: dict[str, float]) -> dict[str, float]:
        """`features` with Link's beat features on top where Link leads (see the module doc)."""
        mine = self.features()  # every frame, so the beat pulse counts from the last frame
        if self.peers == 0 and "audio.tempo" in features:
            return features
        return {**features, **mine}

    def stop(self) -> None:
        self._link.enabled = False
