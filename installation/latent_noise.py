"""Noise that moves with the walk: each keyframe has its own per-layer noise maps, and the maps
between keyframes are interpolated so that the generator's stochastic detail changes with the
latent, never frozen (one constant map) and never flickering (a new random map each frame)."""

from __future__ import annotations

import math

import torch

from installation.latent import smoothstep

CACHED_KEYFRAMES = 4  # the maps of the keyframes around the position; older ones are made again


def noise_resolutions(synthesis) -> list[int]:
    """The resolution of each noise input of a StyleGAN2 synthesis network, in the order its layers
    run (the order `ContentWorker` writes explicit maps in)."""
    from installation.models.stylegan2 import SynthesisLayer

    return [m.resolution for m in synthesis.modules() if isinstance(m, SynthesisLayer) and m.use_noise]


def blend_maps(a: list[torch.Tensor], b: list[torch.Tensor], u: float) -> list[torch.Tensor]:
    """cos/sin blend of two sets of unit-variance maps: every point of the way is unit-variance
    noise too (a plain lerp would fade the detail out halfway)."""
    angle = smoothstep(min(max(u, 0.0), 1.0)) * math.pi / 2
    ca, sb = math.cos(angle), math.sin(angle)
    return [x * ca + y * sb for x, y in zip(a, b)]


class KeyframeNoise:
    """Noise maps at a position on the keyframe path: keyframe k's maps are seeded by (seed, k);
    a looping path of n keyframes repeats them with period n, so loops are seamless."""

    def __init__(self, resolutions: list[int], seed: int, device=None):
        self.resolutions = list(resolutions)
        self.seed = int(seed)
        self.device = device
        self._cache: dict[int, list[torch.Tensor]] = {}

    def keyframe(self, k: int) -> list[torch.Tensor]:
        """Keyframe k's maps, [R, R] each, unit variance."""
        if k not in self._cache:
            gen = torch.Generator().manual_seed((self.seed * 1_000_003 + k) % (2 ** 63))
            self._cache[k] = [torch.randn([r, r], generator=gen).to(self.device) for r in self.resolutions]
            for old in sorted(self._cache, key=lambda j: abs(j - k))[CACHED_KEYFRAMES:]:
                del self._cache[old]
        return self._cache[k]

    def at(self, position: float, period: int | None = None) -> list[torch.Tensor]:
        """The maps at this position: keyframe i's at i, blended toward i + 1's in between."""
        i = math.floor(position)
        t = position - i

        def index(k: int) -> int:
            return k % period if period else k

        if t == 0.0:
            return self.keyframe(index(i))
        return blend_maps(self.keyframe(index(i)), self.keyframe(index(i + 1)), t)


class NoiseDirector:
    """The noise a frame draws with: the maps at the path's position, crossfaded (same blend)
    when the path jumps or its keyframes change, so detail never pops."""

    JUMP = 0.5  # keyframes moved in one frame that count as a jump, not travel

    def __init__(self, noise: KeyframeNoise, jump_fade_seconds: float = 1.0):
        self.noise = noise
        self.jump_fade_seconds = jump_fade_seconds
        self._last_position: float | None = None
        self._last: list[torch.Tensor] | None = None
        self._fade_from: list[torch.Tensor] | None = None
        self._fade = [0.0, 0.0]  # elapsed, duration

    def fade(self, seconds: float) -> None:
        """Crossfade from the maps shown now to wherever the path goes, over `seconds`."""
        if self._last is not None and seconds > 0:
            self._fade_from, self._fade = self._last, [0.0, float(seconds)]
        self._last_position = None

    def step(self, position: float, period: int | None, dt: float) -> list[torch.Tensor]:
        if self._last_position is not None:
            moved = abs(position - self._last_position)
            if period:
                moved = min(moved % period, period - moved % period)
            if moved > self.JUMP and self._fade_from is None:
                self.fade(self.jump_fade_seconds)
        maps = self.noise.at(position, period)
        if self._fade_from is not None:
            self._fade[0] += dt
            elapsed, duration = self._fade
            maps = blend_maps(self._fade_from, maps, elapsed / duration)
            if elapsed >= duration:
                self._fade_from = None
        self._last_position, self._last = position, maps
        return maps
