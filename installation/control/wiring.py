"""The show's inputs as one part: OSC (+ OSCQuery), MIDI, audio and Ableton Link (features -> mappings
-> live parameters).

Controls see a ControlSink, never the show: OSC sets parameters and posts actions; audio
publishes its features (the latent director reads them each frame) and its mappings set
parameters. `update(t, dt)` runs on the frame loop, before the parameter snapshot.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from installation.config import ShowConfig
from installation.control.sink import ControlSink

log = logging.getLogger(__name__)


class OscControl:
    """The OSC server and, beside it, OSCQuery (the parameter tree over HTTP, advertised over mDNS)."""

    def __init__(self, cfg: ShowConfig, sink: ControlSink, status: Callable[[], dict], port: int | None,
                 query_port: int | None = None):
        from installation.control.osc import OscServer
        from installation.control.oscquery import OscQueryServer

        self.server = OscServer(cfg.osc, sink, status, port_override=port).start()  # logs where it listens
        self.query = None
        if query_port is None:
            query_port = cfg.osc.query_port
        chosen = query_port is not None  # a port someone asked for must be had; the default need not
        if not chosen:  # beside OSC; with OSC on any free port, the query one is too
            query_port = 0 if self.server.requested_port == 0 else self.server.port + 1
        try:
            self.query = OscQueryServer(sink, cfg.osc.host, query_port, self.server.port, cfg.osc.allow,
                                        name=cfg.show.name, advertise=cfg.osc.advertise).start()
        except OSError as e:
            if chosen:
                self.server.stop()
                raise
            log.warning("%s; playing on without OSCQuery", e.strerror)
        except BaseException:
            self.server.stop()
            raise

    def inputs(self) -> dict[str, float]:
        return self.server.inputs()

    def stop(self) -> None:
        try:
            if self.query is not None:
                self.query.stop()
        finally:
            self.server.stop()


class AudioControl:
    """Features from live input or, for offline renders, from a file frame by frame; then
    mappings -> parameters. The features go to the sink for the latent director. Link's beat
    features go on top of the analyser's where Link leads (control/link.py)."""

    def __init__(self, cfg: ShowConfig, sink: ControlSink, osc: OscControl | None, audio_file: Path | None = None,
                 link=None):
        from installation.control.audio import FileAudioInput, LiveAudioFeatures, feature_names
        from installation.control.mappings import MappingEngine

        self.sink = sink
        self.osc = osc
        self.link = link
        self.fps = cfg.show.fps
        self.track = None
        self.live = None
        if audio_file is not None:
            self.track = FileAudioInput(audio_file, cfg.audio.samplerate, bands=cfg.audio.bands)
        elif cfg.audio.enabled:
            self.live = LiveAudioFeatures(cfg.audio, self.fps).start()
        self.known_sources = set(feature_names(cfg.audio.bands)) | _osc_sources(cfg)
        self.engine = MappingEngine(cfg.mappings, sink, known_sources=self.known_sources)
        self.frame = 0

    def features(self) -> dict[str, float]:
        gain = self.sink.get_target("audio.gain")
        gain = 1.0 if gain is None else gain  # 0 mutes: not `or 1.0`
        feats: dict[str, float] = {}
        if self.track is not None:
            feats = self.track.features_at(self.frame, self.fps, gain)
        elif self.live is not None:
            feats = self.live.update(gain)
        if self.link is not None:
            feats = self.link.over(feats)
        if self.osc is not None:
            feats = {**feats, **self.osc.inputs()}
        return feats

    def update(self, t: float, dt: float) -> None:
        feats = self.features()
        self.frame += 1
        self.engine.apply(feats, dt)
        self.sink.publish_features(feats)

    def set_mappings(self, mappings) -> None:
        """Swap the mappings (a scene change or a reload); a bad one raises before anything changes."""
        from installation.control.mappings import MappingEngine

        engine = MappingEngine(mappings, self.sink, known_sources=self.known_sources)
        self.engine.release()
        self.engine = engine

    def stop(self) -> None:
        self.engine.release()
        if self.live is not None:
            self.live.stop()


class MidiControl:
    """[[midi]] mappings and MIDI learn; the input port opens only with `--midi PORT`."""

    def __init__(self, cfg: ShowConfig, sink: ControlSink, port: str | None):
        from installation.control.midi import MidiInput, MidiMapper

        self.mapper = MidiMapper(cfg.midi, sink)
        self.input = None if port is None else MidiInput(port, self.mapper)

    def stop(self) -> None:
        if self.input is not None:
            self.input.stop()


def _all_mappings(cfg) -> list:
    scene_mappings = [m for scene in cfg.scenes.values() for m in (scene.mappings or [])]
    return [*cfg.mappings, *scene_mappings]


def _osc_sources(cfg) -> set[str]:
    return {m.source for m in _all_mappings(cfg) if m.source.startswith("osc.")}


def check_mappings(cfg, params) -> None:
    """Every mapping of the show and of its scenes can run; the error names the scene."""
    from installation.control.audio import feature_names
    from installation.control.mappings import MappingEngine

    from installation.control.midi import MidiMapper

    MidiMapper(cfg.midi, params)  # raises naming midi[i]
    known = set(feature_names(cfg.audio.bands)) | _osc_sources(cfg)
    MappingEngine(cfg.mappings, params, known_sources=known)
    for name, scene in cfg.scenes.items():
        try:
            MappingEngine(scene.mappings or [], params, known_sources=known)
        except ValueError as e:
            raise ValueError(f"scenes.{name}.{e}") from None


class Controls:
    """Every input the show asks for, built before the first frame. Offline renders are
    frame-exact and repeatable: no OSC steers them (an audio file does, frame by frame)."""

    def __init__(self, cfg: ShowConfig, sink: ControlSink, *, offline: bool, status: Callable[[], dict],
                 osc_port: int | None = None, audio_file: Path | None = None, query_port: int | None = None,
                 midi_port: str | None = None, link: bool = False):
        self.cfg = cfg
        self.sink = sink
        self.audio_file = audio_file
        self.osc = OscControl(cfg, sink, status, osc_port, query_port) if cfg.osc.enabled and not offline else None
        self.audio: AudioControl | None = None
        self.midi = self.link = None
        self.mappings = list(cfg.mappings)
        try:
            check_mappings(cfg, sink)
            self.midi = MidiControl(cfg, sink, None if offline else midi_port)  # no MIDI steers a frame-exact render
            if (cfg.link.enabled or link) and not offline:  # nor Link
                from installation.control.link import LinkClock

                self.link = LinkClock(cfg.link)
            if cfg.audio.enabled or audio_file is not None or _all_mappings(cfg) or self.link is not None:
                self.audio = AudioControl(cfg, sink, self.osc, audio_file, self.link)
        except BaseException:
            self.stop()
            raise

    @property
    def query_port(self) -> int | None:
        """The bound OSCQuery HTTP port, or None without OSC."""
        return None if self.osc is None or self.osc.query is None else self.osc.query.port

    @property
    def osc_port(self) -> int | None:
        """The bound OSC port (useful with osc_port=0), or None without OSC."""
        return None if self.osc is None else self.osc.server.port

    def update(self, t: float, dt: float) -> None:
        if self.audio is not None:
            self.audio.update(t, dt)

    def set_mappings(self, mappings) -> None:
        """Make `mappings` the running ones (a scene change or a reload)."""
        if list(mappings) == self.mappings:
            return
        if self.audio is None:
            if not mappings:
                return
            self.audio = AudioControl(self.cfg, self.sink, self.osc, self.audio_file, self.link)
        self.audio.set_mappings(mappings)
        self.mappings = list(mappings)

    def set_midi(self, mappings) -> None:
        """The show file's new [[midi]] (a reload); what MIDI learn bound stays."""
        self.midi.mapper.set_mappings(mappings)

    def midi_learn(self, parameter: str) -> None:
        """The next CC or note that moves binds to `parameter` (the midi_learn action)."""
        self.midi.mapper.learn(parameter)
        if self.midi.input is None:
            log.warning("MIDI learn: no MIDI input open (play --midi PORT; `installation midi --list` names them)")

    def stop(self) -> None:
        for part in (self.osc, self.audio, self.midi, self.link):
            try:
                if part is not None:
                    part.stop()
            except Exception:  # the other inputs (and the show's recording) must still be closed
                log.exception("stopping %s failed", type(part).__name__)
