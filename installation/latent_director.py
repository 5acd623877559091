"""The latent director: which keyframes play, the walk between them, the crossfade in W when
they change, and the audio offsets read from the features each frame -> one w a frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from installation.beat_lock import BeatLock
from installation.config import Scene, ShowConfig
from installation.latent import LatentTrajectory, smoothstep
from installation.latent_noise import KeyframeNoise, NoiseDirector, noise_resolutions
from installation.live import Frame

EXTRA_KEYFRAMES = 64  # seeds jumped to (OSC) that may pile up before the keyframes are reset
PCA_CACHE = Path.home() / ".cache" / "installation"


def load_w_files(cfg: ShowConfig) -> list[np.ndarray]:
    return [LatentTrajectory.load_w_file(cfg.resolve(p)) for p in cfg.latent.w_files]


class LatentDirector:
    def __init__(self, cfg: ShowConfig, G, device, w_files: list[np.ndarray] | None = None):
        self.cfg = cfg
        self.G = G
        self.device = device
        self.w_files = load_w_files(cfg) if w_files is None else w_files
        self.trajectory: LatentTrajectory | None = None
        self._keyframes_key = None
        self._scene_seeds: list[int] | None = None
        # Keyframes changed: w crossfades from the last shown w (held still, so a fade costs no
        # extra mapping) to the new path over [elapsed, duration] seconds.
        self._fade_from: torch.Tensor | None = None  # [1, num_ws, w_dim]
        self._fade = [0.0, 0.0]
        self.last_w: torch.Tensor | None = None  # [1, num_ws, w_dim] the newest w asked for
        self._modulation = None  # audio -> W (PCA directions), made when first asked for
        self.beat_lock = BeatLock()  # latent.beats_per_keyframe: keyframes arrive on the beat
        # model.noise = "keyframe": per-keyframe noise maps that travel with the path.
        self.noise = (NoiseDirector(KeyframeNoise(noise_resolutions(G.synthesis), cfg.show.seed, device))
                      if cfg.model.noise == "keyframe" else None)
        self.last_noise: list[torch.Tensor] | None = None  # [R, R] per noise layer, for the newest w
        self.set_keyframes(None, 0.0)

    @property
    def fading(self) -> bool:
        """A keyframe change is still crossfading in W."""
        return self._fade_from is not None

    # -- keyframes -------------------------------------------------------------------------
    def _make_trajectory(self, seeds: list[int] | None) -> LatentTrajectory:
        cfg, G = self.cfg, self.G
        return LatentTrajectory(
            lambda z: G.mapping(z, None, truncation_psi=1.0),
            z_dim=G.z_dim,
            num_ws=G.num_ws,
            w_avg=G.mapping.w_avg,
            seeds=cfg.latent.seeds if seeds is None else seeds,
            w_keyframes=self.w_files if seeds is None else [],
            mode=cfg.latent.mode,
            seconds_per_keyframe=cfg.latent.seconds_per_keyframe,
            loop=cfg.latent.loop,
            seed=cfg.show.seed,
            truncation_cutoff=cfg.model.truncation_cutoff,
            device=self.device,
        )

    def set_keyframes(self, seeds: list[int] | None, fade: float, force: bool = False) -> None:
        """Switch to these keyframes (None: the show's), crossfading in W over `fade` seconds.
        Nothing happens when they are the ones already running."""
        lat = self.cfg.latent
        key = (
            tuple(lat.seeds if seeds is None else seeds),
            len(self.w_files) if seeds is None else 0,
            lat.mode, lat.seconds_per_keyframe, lat.loop,
        )
        if key == self._keyframes_key and not force:
            return
        new = self._make_trajectory(seeds)
        if self.last_w is not None and fade > 0:
            self._fade_from = self.last_w
            self._fade = [0.0, float(fade)]
        else:
            self._fade_from = None
        if self.noise is not None:
            self.noise.fade(fade)  # the detail crossfades with w
        self.trajectory = new
        self._keyframes_key = key
        self._scene_seeds = seeds

    def enter_scene(self, scene: Scene | None, fade: float) -> None:
        self.set_keyframes(scene.seeds if scene is not None else None, fade)

    def reload(self, cfg: ShowConfig, w_files: list[np.ndarray], scene: Scene | None, fade: float) -> None:
        """A reloaded show file: new keyframe settings (a changed w_files list rebuilds the path)."""
        force = cfg.latent.w_files != self.cfg.latent.w_files and (scene is None or scene.seeds is None)
        self.cfg, self.w_files = cfg, w_files
        if force:
            self._keyframes_key = None
        self.enter_scene(scene, fade)

    # -- actions ---------------------------------------------------------------------------
    def next_keyframe(self) -> None:
        self.trajectory.next_keyframe()

    def previous_keyframe(self) -> None:
        self.trajectory.previous_keyframe()

    def jump_to_seed(self, seed) -> None:
        if self.trajectory.num_keyframes > len(self._keyframes_key[0]) + len(self.w_files) + EXTRA_KEYFRAMES:
            self.set_keyframes(self._scene_seeds, 0.0, force=True)  # many jumps: memory stays flat
        self.trajectory.jump_to_seed(int(seed))

    # -- one frame -------------------------------------------------------------------------
    def _pca_modulation(self):
        """PCA directions of the mapping network, computed once per checkpoint (cached)."""
        from installation.control.mappings import LatentModulation, cached_pca_directions

        cfg, G = self.cfg, self.G
        ckpt = cfg.model.checkpoint
        source = ckpt if ckpt.startswith("random:") else cfg.resolve(ckpt)

        def mapping(z):
            return G.mapping(z, None, truncation_psi=1.0)[:, 0]  # [N, w_dim]

        with torch.no_grad():
            dirs = cached_pca_directions(mapping, G.z_dim, source, PCA_CACHE, k=cfg.audio.bands)
        return LatentModulation(dirs)

    def _modulate(self, p: Frame, features: dict[str, float], dt: float) -> None:
        """Band energies move w along the model's PCA directions; onsets push and kick."""
        band, push, kick = p.audio.band_motion, p.audio.onset_push, p.audio.onset_kick
        if not features or (band == 0 and push == 0 and kick == 0):
            return
        if self._modulation is None:
            self._modulation = self._pca_modulation()
        m = self._modulation
        m.band_scale, m.onset_push, m.onset_kick = band, push, kick
        offset, amount = m.step(features, dt)
        self.trajectory.set_offset(torch.from_numpy(np.asarray(offset, np.float32)))
        if amount:
            self.trajectory.push(amount)

    def step(self, p: Frame, dt: float, features: dict[str, float] | None = None) -> torch.Tensor:
        """Advance by dt under this frame's parameters; the w to draw, [1, num_ws, w_dim]."""
        self._modulate(p, features or {}, dt)
        trajectory = self.trajectory
        trajectory.walk_step = p.latent.walk_step
        speed = self.beat_lock.speed(features or {}, dt, beats_per_keyframe=p.latent.beats_per_keyframe,
                                     speed=p.latent.speed, position=trajectory.position + trajectory.pending_push,
                                     seconds_per_keyframe=trajectory.seconds_per_keyframe)
        trajectory.advance(dt, speed)
        with torch.no_grad():
            w = trajectory.w(p.latent.truncation)  # [1, num_ws, w_dim]
        if self._fade_from is not None:  # keyframes changed: crossfade in W
            self._fade[0] += dt
            elapsed, duration = self._fade
            old = self._fade_from
            w = old + (w - old) * smoothstep(elapsed / duration)
            if elapsed >= duration:
                self._fade_from = None
        if not bool(torch.isfinite(w).all()):
            trajectory.set_offset(None)  # the usual culprit; the path itself is finite
            raise FloatingPointError("latent w holds NaN or Inf: frame skipped (the last good frame stays)")
        self.last_w = w
        if self.noise is not None:
            self.last_noise = self.noise.step(trajectory.position, trajectory.period, dt)
        return w
