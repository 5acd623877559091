"""Wires OSC, audio and mappings into a running Show as per-frame controls.

A control has `update(t, dt)` (called by the frame loop, before the parameter snapshot)
and `stop()`. OSC callbacks only post actions; everything that touches the show happens
on the frame loop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

PCA_CACHE = Path.home() / ".cache" / "installation"


def osc_actions(show) -> dict:
    """OSC action address -> callable that posts the action to the show's queue."""
    prefix = "/installation"
    return {
        prefix + "/keyframe/next": lambda: show.post("next_keyframe"),
        prefix + "/keyframe/previous": lambda: show.post("previous_keyframe"),
        prefix + "/keyframe/seed": lambda seed: show.post("jump_to_seed", seed),
        prefix + "/record/start": lambda path=None: show.post("record_start", path),
        prefix + "/record/stop": lambda: show.post("record_stop"),
        prefix + "/dream/toggle": lambda: show.post("toggle_dream"),
        prefix + "/scene": lambda name_or_index: show.post("scene", name_or_index),
        prefix + "/cue/next": lambda: show.post("cue_next"),
        prefix + "/cue/previous": lambda: show.post("cue_previous"),
        prefix + "/show/reload": lambda: show.post("reload_show"),
    }


class OscControl:
    def __init__(self, show):
        from installation.control.osc import OscServer

        self.server = OscServer(
            show.cfg.osc, show.params, osc_actions(show), show.status, port_override=show.opt.osc_port
        ).start()  # logs where it listens

    def inputs(self) -> dict[str, float]:
        return self.server.inputs()

    def update(self, t: float, dt: float) -> None:
        pass

    def stop(self) -> None:
        self.server.stop()


class AudioControl:
    """Features from live input or, for offline renders, from a file frame by frame;
    then mappings -> params, and band / onset modulation -> the latent trajectory."""

    def __init__(self, show, osc: OscControl | None):
        from installation.control.audio import FileAudioInput, LiveAudioFeatures, feature_names
        from installation.control.mappings import MappingEngine

        cfg = show.cfg
        self.show = show
        self.osc = osc
        self.fps = cfg.show.fps
        self.track = None
        self.live = None
        if show.opt.audio_file is not None:
            self.track = FileAudioInput(show.opt.audio_file, cfg.audio.samplerate, bands=cfg.audio.bands)
        elif cfg.audio.enabled:
            self.live = LiveAudioFeatures(cfg.audio, self.fps).start()
        self.known_sources = set(feature_names(cfg.audio.bands)) | _osc_sources(cfg)
        self.engine = MappingEngine(cfg.mappings, show.params, known_sources=self.known_sources)
        self.modulation = None
        self.frame = 0

    def _latent_modulation(self):
        """PCA directions of the mapping network, computed once per checkpoint (cached)."""
        from installation.control.mappings import LatentModulation, cached_pca_directions

        cfg, G = self.show.cfg, self.show.G
        ckpt = cfg.model.checkpoint
        source = ckpt if ckpt.startswith("random:") else cfg.resolve(ckpt)
        def mapping(z):
            return G.mapping(z, None, truncation_psi=1.0)[:, 0]  # [N, w_dim]

        with torch.no_grad():
            dirs = cached_pca_directions(mapping, G.z_dim, source, PCA_CACHE, k=cfg.audio.bands)
        return LatentModulation(dirs)

    def features(self) -> dict[str, float]:
        gain = self.show.params.get_target("audio.gain")
        gain = 1.0 if gain is None else gain  # 0 mutes: not `or 1.0`
        feats: dict[str, float] = {}
        if self.track is not None:
            feats = self.track.features_at(self.frame, self.fps, gain)
        elif self.live is not None:
            feats = self.live.update(gain)
        if self.osc is not None:
            feats = {**feats, **self.osc.inputs()}
        return feats

    def update(self, t: float, dt: float) -> None:
        feats = self.features()
        self.frame += 1
        self.engine.apply(feats, dt)
        p = self.show.params
        band, push, kick = (p.get_target(k) or 0.0 for k in ("audio.band_motion", "audio.onset_push", "audio.onset_kick"))
        if not feats or (band == 0 and push == 0 and kick == 0):
            return
        if self.modulation is None:
            self.modulation = self._latent_modulation()
        self.modulation.band_scale, self.modulation.onset_push, self.modulation.onset_kick = band, push, kick
        offset, amount = self.modulation.step(feats, dt)
        self.show.trajectory.set_offset(torch.from_numpy(np.asarray(offset, np.float32)))
        if amount:
            self.show.trajectory.push(amount)

    def set_mappings(self, mappings) -> None:
        """Swap the mappings (a scene change or a reload); a bad one raises before anything changes."""
        from installation.control.mappings import MappingEngine

        engine = MappingEngine(mappings, self.show.params, known_sources=self.known_sources)
        self.engine.release()
        self.engine = engine

    def stop(self) -> None:
        self.engine.release()
        if self.live is not None:
            self.live.stop()


def _all_mappings(cfg) -> list:
    scene_mappings = [m for scene in cfg.scenes.values() for m in (scene.mappings or [])]
    return [*cfg.mappings, *scene_mappings]


def _osc_sources(cfg) -> set[str]:
    return {m.source for m in _all_mappings(cfg) if m.source.startswith("osc.")}


def check_mappings(cfg, params) -> None:
    """Every mapping of the show and of its scenes can run; the error names the scene."""
    from installation.control.audio import feature_names
    from installation.control.mappings import MappingEngine

    known = set(feature_names(cfg.audio.bands)) | _osc_sources(cfg)
    MappingEngine(cfg.mappings, params, known_sources=known)
    for name, scene in cfg.scenes.items():
        try:
            MappingEngine(scene.mappings or [], params, known_sources=known)
        except ValueError as e:
            raise ValueError(f"scenes.{name}.{e}") from None


def apply_mappings(show, mappings) -> None:
    """Make `mappings` the running ones (a scene change or a reload)."""
    audio = next((c for c in show.controls if isinstance(c, AudioControl)), None)
    if audio is None:
        if not mappings:
            return
        osc = next((c for c in show.controls if isinstance(c, OscControl)), None)
        audio = AudioControl(show, osc)
        show.controls.append(audio)
    audio.set_mappings(mappings)


def start_controls(show) -> list:
    """Every control the show asks for, built before the first frame."""
    controls: list = []
    osc = None
    # Offline renders are frame-exact and repeatable: nothing from outside may steer them.
    if show.cfg.osc.enabled and not show.opt.offline:
        osc = OscControl(show)
        controls.append(osc)
    check_mappings(show.cfg, show.params)
    needs_audio = show.cfg.audio.enabled or show.opt.audio_file is not None or _all_mappings(show.cfg)
    if needs_audio:
        controls.append(AudioControl(show, osc))
    return controls
