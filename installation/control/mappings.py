"""Mappings: features (audio, OSC inputs) -> live parameters, and audio -> the latent walk.

`MappingEngine` runs the show file's `[[mappings]]` once per frame: each takes a source
feature, maps `source_range` onto `range` through a curve, eases it with its own time
constant, and either sets the parameter (mode "set") or offsets the parameter's base value
(mode "add", through `Params.set_offset`; several add mappings on one target sum).

`LatentModulation` moves the latent itself: each audio band pushes w along its own direction
in W (principal axes of the mapping network's output, `pca_directions`, cached per
checkpoint), and each onset kicks w along the next direction and asks the walk for a push
along its path. Everything here is plain numpy (torch only inside `pca_directions`).
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from installation.config import Mapping
from installation.control.sink import ControlSink
from installation.params import Params

EXP_SHAPE = 3.0  # steepness of the exp/log curves: exp(3x) spans a factor of 20


def apply_curve(x: float, curve: str) -> float:
    """Shape x in [0, 1] to [0, 1]: linear; exp (slow start, quick end); log (its inverse:
    quick start); smoothstep (eased at both ends)."""
    x = min(1.0, max(0.0, x))
    if curve == "linear":
        return x
    if curve == "exp":
        return (math.exp(EXP_SHAPE * x) - 1.0) / (math.exp(EXP_SHAPE) - 1.0)
    if curve == "log":
        return math.log1p((math.exp(EXP_SHAPE) - 1.0) * x) / EXP_SHAPE
    if curve == "smoothstep":
        return x * x * (3.0 - 2.0 * x)
    raise ValueError(f"unknown curve {curve!r}; expected linear, exp, log or smoothstep")


class MappingEngine:
    """Per frame: `apply(features, dt)`. `release()` takes the add offsets away again (call it
    before replacing the engine on a scene change or reload)."""

    def __init__(self, mappings: Sequence[Mapping], params: Params | ControlSink, known_sources: Iterable[str] | None = None):
        self.params = params
        self.mappings = list(mappings)
        known = set(known_sources) if known_sources is not None else None
        for i, m in enumerate(self.mappings):
            where = f"mappings[{i}]"
            if m.target not in params.specs:
                raise ValueError(f"{where}.target: {m.target!r} is not a live parameter")
            if not (m.source.startswith("audio.") or m.source.startswith("osc.")):
                raise ValueError(f"{where}.source: {m.source!r} must start with 'audio.' or 'osc.'")
            if known is not None and m.source.startswith("audio.") and m.source not in known:
                raise ValueError(f"{where}.source: {m.source!r} is not an audio feature (one of: {', '.join(sorted(known))})")
            if m.source_range[0] == m.source_range[1]:
                raise ValueError(f"{where}.source_range: the two ends must differ, got {tuple(m.source_range)}")
        # eased output per mapping; None until its source first appears
        self._state: list[float | None] = [None] * len(self.mappings)
        self._add_targets = sorted({m.target for m in self.mappings if m.mode == "add"})

    def target_value(self, m: Mapping, x: float) -> float:
        """The unsmoothed output for source value x."""
        s0, s1 = m.source_range
        u = apply_curve((x - s0) / (s1 - s0), m.curve)
        return m.range[0] + (m.range[1] - m.range[0]) * u

    def apply(self, features: dict[str, float], dt: float) -> dict[str, float]:
        """Write every mapping's eased value; returns {target: value written} (offsets summed)."""
        dt = max(0.0, float(dt))
        offsets = {key: 0.0 for key in self._add_targets}
        written: dict[str, float] = {}
        for i, m in enumerate(self.mappings):
            x = features.get(m.source)
            if x is None or not math.isfinite(x):
                state = self._state[i]  # source absent this frame: hold
                if state is not None and m.mode == "add":
                    offsets[m.target] += state
                continue
            y = self.target_value(m, float(x))
            state = self._state[i]
            if state is None:  # start from where the parameter is, so a new mapping fades in
                state = self.params.get_target(m.target) if m.mode == "set" else 0.0
            if m.smoothing > 0:
                state += (y - state) * (1.0 - math.exp(-dt / m.smoothing))
            else:
                state = y
            self._state[i] = state
            if m.mode == "add":
                offsets[m.target] += state
            else:
                spec = self.params.specs[m.target]
                v = min(max(state, spec.lo), spec.hi)  # a mapping's range is no reason to count clamps
                self.params.set(m.target, v, smoothing=False)  # eased here already
                written[m.target] = v
        for key, total in offsets.items():
            self.params.set_offset(key, total)
            written[key] = total
        return written

    def release(self) -> None:
        for key in self._add_targets:
            self.params.set_offset(key, 0.0)
        self._state = [None] * len(self.mappings)


# --- the latent ------------------------------------------------------------------------------


def pca_directions(mapping, z_dim: int, n: int = 2000, k: int = 8, seed: int = 0, batch: int = 500) -> np.ndarray:
    """Principal axes of W for N random z's: [k, w_dim], each row one standard deviation long.

    `mapping` is a torch module z [N, z_dim] -> w [N, w_dim] or [N, num_ws, w_dim] (our
    MappingNetwork; a conditional one gets zero labels). z's come from numpy with `seed`, so the
    directions are the same on every device. Signs are fixed (largest component positive).
    """
    import torch

    params = list(mapping.parameters()) if hasattr(mapping, "parameters") else []
    device = params[0].device if params else torch.device("cpu")
    z_all = np.random.RandomState(seed).randn(n, z_dim).astype(np.float32)
    c_dim = int(getattr(mapping, "c_dim", 0) or 0)
    ws = []
    with torch.no_grad():
        for start in range(0, n, batch):
            z = torch.from_numpy(z_all[start : start + batch]).to(device)
            if hasattr(mapping, "c_dim"):
                c = torch.zeros(z.shape[0], c_dim, device=device) if c_dim > 0 else None
                w = mapping(z, c)
            else:
                w = mapping(z)
            if w.ndim == 3:  # [N, num_ws, w_dim]: the copies are identical before truncation
                w = w[:, 0]
            ws.append(w.float().cpu().numpy().astype(np.float64))
    w = np.concatenate(ws)  # [n, w_dim]
    w -= w.mean(axis=0, keepdims=True)
    _, s, vt = np.linalg.svd(w, full_matrices=False)
    k = min(k, vt.shape[0])
    dirs = vt[:k] * (s[:k, None] / math.sqrt(max(1, n - 1)))
    signs = np.sign(dirs[np.arange(k), np.argmax(np.abs(dirs), axis=1)])
    return (dirs * signs[:, None]).astype(np.float32)


def checkpoint_key(checkpoint: str | Path) -> str:
    """sha256 of a checkpoint file's bytes; of the text itself for a spec like 'random:3'."""
    p = Path(checkpoint)
    h = hashlib.sha256()
    if p.is_file():
        with p.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    else:
        h.update(str(checkpoint).encode("utf-8"))
    return h.hexdigest()


def cached_pca_directions(mapping, z_dim: int, checkpoint: str | Path, cache_dir: str | Path,
                          n: int = 2000, k: int = 8, seed: int = 0) -> np.ndarray:
    """`pca_directions`, computed once per checkpoint and kept as .npy in `cache_dir`."""
    cache_dir = Path(cache_dir)
    path = cache_dir / f"pca_{checkpoint_key(checkpoint)[:20]}_n{n}_k{k}_s{seed}.npy"
    if path.is_file():
        try:
            dirs = np.load(path, allow_pickle=False)
            if dirs.ndim == 2 and 0 < dirs.shape[0] <= k and np.isfinite(dirs).all():
                return dirs.astype(np.float32)
        except (OSError, ValueError):
            pass  # a damaged cache file is recomputed
    dirs = pca_directions(mapping, z_dim, n=n, k=k, seed=seed)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}.npy")
    np.save(tmp, dirs)
    os.replace(tmp, path)  # never a half-written cache
    return dirs


def band_offset(features: dict[str, float], directions: np.ndarray, scale: float | Sequence[float]) -> np.ndarray:
    """sum_i scale_i * band_i * directions[i % k]: [w_dim]. Bands are 0..1, so silence is no offset."""
    k, w_dim = directions.shape
    bands = []
    i = 0
    while f"audio.band{i}" in features:
        bands.append(features[f"audio.band{i}"])
        i += 1
    out = np.zeros(w_dim, np.float32)
    if not bands:
        return out
    scales = np.broadcast_to(np.asarray(scale, np.float32), (len(bands),))
    for i, b in enumerate(bands):
        if math.isfinite(b):
            out += scales[i] * float(b) * directions[i % k]
    return out


class LatentModulation:
    """Audio -> the latent walk, per frame: `step(features, dt) -> (w_offset [w_dim], push)`.

    w_offset goes to `LatentTrajectory.set_offset`, push (keyframes of extra travel) to
    `LatentTrajectory.push`. An onset also kicks w along the next direction in turn, the kick
    fading with `kick_decay` seconds.
    """

    def __init__(self, directions: np.ndarray, band_scale: float | Sequence[float] = 0.5,
                 onset_push: float = 0.1, onset_kick: float = 0.5, kick_decay: float = 0.3):
        self.directions = np.asarray(directions, np.float32)  # [k, w_dim]
        if self.directions.ndim != 2 or self.directions.shape[0] == 0:
            raise ValueError(f"LatentModulation: directions must be [k, w_dim], got {self.directions.shape}")
        self.band_scale = band_scale
        self.onset_push = float(onset_push)
        self.onset_kick = float(onset_kick)
        self.kick_decay = float(kick_decay)
        self._kick = 0.0
        self._kick_index = -1

    def step(self, features: dict[str, float], dt: float) -> tuple[np.ndarray, float]:
        onset = features.get("audio.onset", 0.0)
        onset = onset if math.isfinite(onset) else 0.0
        self._kick *= math.exp(-max(0.0, dt) / self.kick_decay)
        if onset > 0.5:
            self._kick = 1.0
            self._kick_index = (self._kick_index + 1) % self.directions.shape[0]
        offset = band_offset(features, self.directions, self.band_scale)
        if self._kick_index >= 0:
            offset = offset + self.onset_kick * self._kick * self.directions[self._kick_index]
        return offset, self.onset_push * onset
