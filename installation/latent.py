"""The latent trajectory: keyframes, interpolation, loops, random walks, offsets -> w.

Each frame the show calls `advance(dt, speed)` and then `w(truncation_psi)`, which returns
`[1, num_ws, w_dim]` for the synthesis network. The path is measured in keyframe units
(`position` 2.5 is halfway from keyframe 2 to keyframe 3); at speed 1 one unit takes
`seconds_per_keyframe` seconds.

Keyframes are the `seeds` (z = numpy RandomState(seed).randn(1, z_dim), as NVlabs) followed by
the `w_keyframes` (saved w's, e.g. from projection). Their mapped ws are cached.

Modes (the choice of curve decides the look, so it is documented here):
- "slerp_z": great-circle interpolation between keyframe z's, mapped to W every frame. Within a
  segment the fraction is eased with smoothstep, so the velocity is continuous everywhere: the
  walk slows into each keyframe and leaves it again (it "breathes" on every keyframe), and the
  change of direction at a keyframe is never a visible kink. A segment with a w keyframe at
  either end has no z to slerp, so it interpolates linearly in W with the same ease.
- "lerp_w": a uniform Catmull-Rom spline through the keyframe ws. It passes through every
  keyframe with continuous, non-zero velocity: the walk flows through keyframes without pausing.
- "walk": a smooth random walk that never repeats. Control points c_k at integer positions are
  made lazily from the show seed as an AR(1) chain on the Gaussian,
  c_{k+1} = cos(a) c_k + sin(a) n_k with a = `walk_step` (radians, so the points stay typical
  samples of N(0, I) and the walk never drifts off to extreme latents); between them a
  Catmull-Rom spline in Z whose length is the spline of the control lengths. The walk starts at
  keyframe 0: at its z, or, for a w keyframe, as the W displacement of a walk added to it.
  Control points are fixed when the position comes within reach of them (the next two), so a
  change of walk_step shows after one or two keyframe intervals, without a jump. Position is
  not wrapped in walk mode; `loop` does not apply.

Loops (slerp_z, lerp_w): with loop=True the path is periodic, the segment after the last keyframe
returns to the first and the position wraps, so position N is position 0 exactly. With
loop=False the walk stops at the last keyframe (and at the first when going backwards).

Controls: next/previous_keyframe glide along the path to the neighbouring keyframe in
`glide_seconds` (also when speed is 0: they are deliberate actions); jump_to_seed crossfades in W
to that seed's keyframe (inserted after the current segment if it is new); push adds an impulse
of travel that decays exponentially; set_offset adds a W offset (audio/OSC) before truncation.
While a jump's crossfade runs, the position holds. Everything is deterministic: the same
keyframes, seed and sequence of advance() calls give identical ws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

MODES = ("slerp_z", "lerp_w", "walk")


def seed_to_z(seed: int, z_dim: int) -> np.ndarray:
    """NVlabs' seed -> z: numpy RandomState(seed).randn(1, z_dim), shape [1, z_dim]."""
    return np.random.RandomState(int(seed)).randn(1, z_dim)


def smoothstep(t: float) -> float:
    """3t^2 - 2t^3: zero slope at both ends, so eased segments join with continuous velocity."""
    t = min(1.0, max(0.0, t))
    return t * t * (3.0 - 2.0 * t)


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Great-circle interpolation between two vectors (lengths interpolate along the arc)."""
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    cos_omega = float(np.dot(a, b) / max(na * nb, 1e-12))
    omega = math.acos(min(1.0, max(-1.0, cos_omega)))
    if math.sin(omega) < 1e-6:  # (anti)parallel: any great circle is as good as a straight line
        return (1.0 - t) * a + t * b
    s = math.sin(omega)
    return (math.sin((1.0 - t) * omega) / s) * a + (math.sin(t * omega) / s) * b


def catmull_rom(p0, p1, p2, p3, t: float):
    """Uniform Catmull-Rom between p1 (t=0) and p2 (t=1); works on numpy arrays and tensors."""
    t2, t3 = t * t, t * t * t
    return 0.5 * (
        2.0 * p1 + (p2 - p0) * t + (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3) * t2 + (3.0 * p1 - p0 - 3.0 * p2 + p3) * t3
    )


@dataclass
class _Keyframe:
    z: np.ndarray | None  # [z_dim] float64, None for a w keyframe
    w: torch.Tensor | None  # [1, num_ws, w_dim] untruncated; cached after the first mapping
    seed: int | None = None


@dataclass
class _Glide:
    start: float  # unwrapped positions, in one frame: `position` is their wrapped value
    target: float
    elapsed: float
    duration: float
    current: float


@dataclass
class _Blend:
    from_w: torch.Tensor  # [1, num_ws, w_dim] what was on screen when the jump began
    elapsed: float
    duration: float


class LatentTrajectory:
    glide_seconds = 1.0  # next/previous keyframe and jump_to_seed take this long
    push_decay_seconds = 0.5  # time constant of a push's extra travel

    def __init__(
        self,
        mapping: Callable[[torch.Tensor], torch.Tensor],
        *,
        z_dim: int,
        num_ws: int,
        w_avg: torch.Tensor,
        seeds: Sequence[int] = (),
        w_keyframes: Sequence = (),
        mode: str = "slerp_z",
        seconds_per_keyframe: float = 6.0,
        loop: bool = True,
        seed: int = 0,
        truncation_cutoff: int | None = None,
        device: torch.device | str | None = None,
        walk_step: float = 0.35,
    ):
        if mode not in MODES:
            raise ValueError(f"latent mode {mode!r}: expected one of {', '.join(MODES)}")
        if not seconds_per_keyframe > 0:
            raise ValueError(f"seconds_per_keyframe must be > 0, got {seconds_per_keyframe}")
        self.mapping = mapping  # z [N, z_dim] -> untruncated ws [N, num_ws, w_dim]
        self.z_dim = int(z_dim)
        self.num_ws = int(num_ws)
        w_avg = torch.as_tensor(w_avg).detach()
        self.device = torch.device(device) if device is not None else w_avg.device
        self.w_avg = w_avg.to(self.device, torch.float32).reshape(-1)  # [w_dim]
        self.w_dim = int(self.w_avg.shape[0])
        self.mode = mode
        self.seconds_per_keyframe = float(seconds_per_keyframe)
        self.loop = bool(loop)
        self.seed = int(seed)
        if truncation_cutoff is not None and truncation_cutoff < 0:
            raise ValueError(f"truncation_cutoff must be >= 0 or None, got {truncation_cutoff}")
        self.truncation_cutoff = truncation_cutoff
        self.walk_step = float(walk_step)  # the show sets this every frame (latent.walk_step)

        self._keyframes: list[_Keyframe] = [self._seed_keyframe(s) for s in seeds]
        for i, w in enumerate(w_keyframes):
            if isinstance(w, (str, Path)):
                w = self.load_w_file(w)
            self._keyframes.append(_Keyframe(z=None, w=self._as_ws(w, f"w keyframe {i}")))
        if not self._keyframes:
            raise ValueError("latent trajectory: need at least one keyframe (seeds or w_keyframes)")

        self._position = 0.0
        self._glide: _Glide | None = None
        self._blend: _Blend | None = None
        self._impulse_velocity = 0.0  # keyframes per second, decaying
        self._offset: torch.Tensor | None = None  # [1, num_ws or 1, w_dim]
        self._cached_w: torch.Tensor | None = None  # path w (pre-offset) at the current state
        self._walk_epoch = 0
        self._walk_points: dict[int, np.ndarray] = {}
        self._walk_origin_w: torch.Tensor | None = None  # keyframe-0 w when it is a w keyframe
        if mode == "walk":
            self._restart_walk(self._keyframes[0])

    # -- keyframes ------------------------------------------------------------------------
    @property
    def num_keyframes(self) -> int:
        return len(self._keyframes)

    def _seed_keyframe(self, seed: int) -> _Keyframe:
        return _Keyframe(z=seed_to_z(seed, self.z_dim)[0].astype(np.float64), w=None, seed=int(seed))

    def _as_ws(self, w, what: str) -> torch.Tensor:
        """[w_dim] | [num_ws, w_dim] | [1, num_ws, w_dim] -> tensor [1, num_ws, w_dim]."""
        t = torch.as_tensor(np.asarray(w, dtype=np.float32) if not torch.is_tensor(w) else w)
        t = t.detach().to(self.device, torch.float32)
        if t.ndim == 3 and t.shape[0] == 1:
            t = t[0]
        if t.ndim == 1:
            t = t.unsqueeze(0).expand(self.num_ws, -1)
        if t.ndim != 2 or tuple(t.shape) != (self.num_ws, self.w_dim):
            raise ValueError(
                f"{what}: shape {tuple(torch.as_tensor(w).shape)} does not fit this generator; expected "
                f"[{self.w_dim}], [{self.num_ws}, {self.w_dim}] or [1, {self.num_ws}, {self.w_dim}]"
            )
        return t.unsqueeze(0).contiguous()

    def _map(self, z: np.ndarray) -> torch.Tensor:
        """z [z_dim] -> untruncated ws [1, num_ws, w_dim]."""
        zt = torch.from_numpy(np.asarray(z, dtype=np.float32).reshape(1, self.z_dim)).to(self.device)
        with torch.no_grad():
            ws = self.mapping(zt)
        if tuple(ws.shape) != (1, self.num_ws, self.w_dim):
            raise ValueError(
                f"latent mapping returned shape {tuple(ws.shape)}; expected [1, {self.num_ws}, {self.w_dim}]"
            )
        return ws.detach().to(self.device, torch.float32)

    def _kf_w(self, kf: _Keyframe) -> torch.Tensor:
        if kf.w is None:
            kf.w = self._map(kf.z)
        return kf.w

    @staticmethod
    def load_w_file(path) -> np.ndarray:
        """A saved w: .npy of shape [w_dim], [num_ws, w_dim] or [1, num_ws, w_dim] (or NVlabs'
        projector .npz with key 'w'). Returns float32; errors name the file and the problem."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"w file {path}: no such file")
        try:
            data = np.load(path, allow_pickle=False)
            if isinstance(data, np.lib.npyio.NpzFile):
                with data:
                    if "w" not in data.files:
                        raise ValueError(f"w file {path}: .npz without an array named 'w' (has {data.files})")
                    data = data["w"]
        except ValueError as e:
            if str(path) in str(e):
                raise
            raise ValueError(f"w file {path}: not a numpy .npy/.npz array ({e})") from None
        except OSError as e:
            raise ValueError(f"w file {path}: cannot read it as a numpy array ({e})") from None
        if not np.issubdtype(data.dtype, np.floating):
            raise ValueError(f"w file {path}: dtype {data.dtype}; expected floating point ws")
        shape_ok = data.ndim in (1, 2) or (data.ndim == 3 and data.shape[0] == 1)
        if not shape_ok or data.size == 0:
            raise ValueError(f"w file {path}: shape {data.shape}; expected [w_dim], [num_ws, w_dim] or [1, num_ws, w_dim]")
        if not np.all(np.isfinite(data)):
            raise ValueError(f"w file {path}: contains NaN or infinity")
        return data.astype(np.float32)

    # -- position and motion ----------------------------------------------------------------
    @property
    def _periodic(self) -> bool:
        return self.loop and self.mode != "walk"

    def _wrap(self, p: float) -> float:
        n = len(self._keyframes)
        if self.mode == "walk":
            return p
        if self._periodic:
            p = p % n
            return 0.0 if p >= n else p  # p % n can round up to n for tiny negative p
        return min(max(p, 0.0), float(n - 1))

    @property
    def position(self) -> float:
        return self._position

    @property
    def period(self) -> int | None:
        """Keyframes per loop when the path loops (position p and p + period are the same place)."""
        return len(self._keyframes) if self._periodic else None

    @position.setter
    def position(self, value: float) -> None:
        """Jump (no glide) to a position; it wraps (loop) or clamps (no loop)."""
        self._glide = None
        self._set_position(float(value))

    def _set_position(self, p: float) -> None:
        p = self._wrap(p)
        if p != self._position:
            self._position = p
            self._cached_w = None
        if self.mode == "walk":
            self._ensure_walk_points()

    def advance(self, dt: float, speed: float, walk_step: float | None = None) -> None:
        """Move along the path by dt seconds at `speed` (keyframes per seconds_per_keyframe);
        speed 0 holds. Glides and crossfades progress with dt whatever the speed."""
        if walk_step is not None:
            self.walk_step = float(walk_step)
        dt = float(dt) if math.isfinite(dt) and dt > 0 else 0.0
        speed = float(speed) if math.isfinite(speed) else 0.0
        # Impulse: v' = -v / tau, integrated exactly so the total travel doesn't depend on dt.
        tau = self.push_decay_seconds
        decay = math.exp(-dt / tau)
        extra = self._impulse_velocity * tau * (1.0 - decay)
        self._impulse_velocity *= decay
        blending = self._blend is not None
        if blending:
            self._blend.elapsed += dt
            self._cached_w = None
            if self._blend.elapsed >= self._blend.duration:
                self._blend = None
        if self._glide is not None:
            g = self._glide
            g.elapsed += dt
            g.current = g.start + (g.target - g.start) * smoothstep(g.elapsed / g.duration)
            if g.elapsed >= g.duration:
                self._glide = None
                g.current = g.target  # land exactly on the keyframe
            self._set_position(g.current)
            return
        if blending:
            return  # hold on the jumped-to keyframe while the crossfade runs
        self._set_position(self._position + speed * dt / self.seconds_per_keyframe + extra)

    @property
    def pending_push(self) -> float:
        """Travel (keyframes) the pushes given so far will still add: where a push lands."""
        return self._impulse_velocity * self.push_decay_seconds

    def push(self, amount: float) -> None:
        """An impulse along the path: `amount` keyframes of extra travel, delivered with an
        exponential decay (time constant push_decay_seconds). Independent of speed."""
        if math.isfinite(amount):
            self._impulse_velocity += float(amount) / self.push_decay_seconds

    def _heading(self) -> tuple[float, float]:
        """(where the path is heading, where it is now), unwrapped in one frame: during a glide
        the glide's target, so repeated presses step one keyframe further each."""
        if self._glide is not None:
            return self._glide.target, self._glide.current
        return self._position, self._position

    def _glide_to_keyframe(self, target: float, current: float) -> None:
        # `current` and `position` differ by whole loops; shift the (integer) target by those
        # loops so it stays exact and the glide never goes the long way round.
        if self._periodic:
            n = len(self._keyframes)
            target -= round((current - self._position) / n) * n
        if self.mode != "walk" and not self._periodic:
            target = min(max(target, 0.0), float(len(self._keyframes) - 1))
        if target == self._position:
            self._glide = None
            return
        self._glide = _Glide(self._position, target, 0.0, self.glide_seconds, self._position)

    def next_keyframe(self) -> None:
        """Glide (glide_seconds, eased) to the next keyframe along the path."""
        heading, current = self._heading()
        self._glide_to_keyframe(math.floor(heading + 1e-9) + 1.0, current)

    def previous_keyframe(self) -> None:
        """Glide to the previous keyframe (the start of the current segment if between two)."""
        heading, current = self._heading()
        self._glide_to_keyframe(math.ceil(heading - 1e-9) - 1.0, current)

    def jump_to_seed(self, seed: int) -> None:
        """Crossfade in W (glide_seconds) to a seed's keyframe. A new seed is inserted after the
        current segment's start, so the walk continues from it to the next keyframe; in walk mode
        the walk restarts from the seed."""
        from_w = self._blended_w()
        seed = int(seed)
        if self.mode == "walk":
            self._restart_walk(self._seed_keyframe(seed))
            self._position = 0.0
        else:
            index = next((i for i, kf in enumerate(self._keyframes) if kf.seed == seed), None)
            if index is None:
                index = min(math.floor(self._position) + 1, len(self._keyframes))
                self._keyframes.insert(index, self._seed_keyframe(seed))
            self._position = float(index)
        self._glide = None
        self._impulse_velocity = 0.0
        self._cached_w = None
        self._blend = _Blend(from_w=from_w, elapsed=0.0, duration=self.glide_seconds)

    def set_offset(self, w_offset: torch.Tensor | np.ndarray | None) -> None:
        """Additive offset in W ([w_dim] or [num_ws, w_dim]) applied before truncation; None clears."""
        if w_offset is None:
            self._offset = None
            return
        o = torch.as_tensor(w_offset).detach().to(self.device, torch.float32)
        if o.ndim == 1 and o.shape[0] == self.w_dim:
            o = o.reshape(1, 1, self.w_dim)
        elif o.ndim == 2 and tuple(o.shape) == (self.num_ws, self.w_dim):
            o = o.unsqueeze(0)
        else:
            raise ValueError(
                f"w offset: shape {tuple(o.shape)}; expected [{self.w_dim}] or [{self.num_ws}, {self.w_dim}]"
            )
        self._offset = o

    # -- the path ---------------------------------------------------------------------------
    def w(self, truncation_psi: float = 1.0) -> torch.Tensor:
        """ws for the current state: [1, num_ws, w_dim], offset then truncation
        (w_avg + psi * (w - w_avg) on the first truncation_cutoff ws, all when None)."""
        w = self._blended_w().clone()  # never hand out the cache
        if self._offset is not None:
            w = w + self._offset
        psi = float(truncation_psi)
        if psi != 1.0:
            cutoff = self.num_ws if self.truncation_cutoff is None else min(self.truncation_cutoff, self.num_ws)
            avg = self.w_avg.reshape(1, 1, -1)
            w[:, :cutoff] = avg + psi * (w[:, :cutoff] - avg)
        return w

    def _blended_w(self) -> torch.Tensor:
        w = self._path_w()
        if self._blend is not None:
            u = smoothstep(self._blend.elapsed / self._blend.duration)
            w = self._blend.from_w + (w - self._blend.from_w) * u
        return w

    def _path_w(self) -> torch.Tensor:
        """Untruncated, un-offset w at the current position, cached until the state changes."""
        if self._cached_w is None:
            self._cached_w = self._w_at(self._position)
        return self._cached_w

    def _w_at(self, p: float) -> torch.Tensor:
        if self.mode == "walk":
            return self._walk_w(p)
        kfs = self._keyframes
        n = len(kfs)
        i = math.floor(p)
        t = p - i
        if n == 1 or (not self._periodic and i >= n - 1):
            return self._kf_w(kfs[min(i, n - 1)])
        if t == 0.0:
            return self._kf_w(kfs[i % n])  # keyframes are hit exactly
        index = (lambda j: j % n) if self._periodic else (lambda j: min(max(j, 0), n - 1))
        a, b = kfs[index(i)], kfs[index(i + 1)]
        if self.mode == "slerp_z":
            s = smoothstep(t)
            if a.z is not None and b.z is not None:
                return self._map(slerp(a.z, b.z, s))
            wa, wb = self._kf_w(a), self._kf_w(b)
            return wa + (wb - wa) * s
        # lerp_w: Catmull-Rom through the keyframe ws (ends duplicated when not looping).
        p0, p3 = self._kf_w(kfs[index(i - 1)]), self._kf_w(kfs[index(i + 2)])
        return catmull_rom(p0, self._kf_w(a), self._kf_w(b), p3, t)

    # -- random walk ------------------------------------------------------------------------
    def _restart_walk(self, start: _Keyframe) -> None:
        self._walk_epoch += 1
        self._walk_points = {}
        if start.z is not None:
            c0 = start.z.copy()
            self._walk_origin_w = None
        else:
            rng = np.random.default_rng([self.seed, self._walk_epoch, 2])
            c0 = rng.standard_normal(self.z_dim)
            self._walk_origin_w = self._kf_w(start) - self._map(c0)  # w = kf.w + map(c) - map(c0)
        self._walk_points[0] = c0
        self._cached_w = None
        self._ensure_walk_points()

    def _ensure_walk_points(self) -> None:
        """Make the control points around the position now, while the walk_step of this frame is
        set, so the path depends only on the advance() sequence and not on when w() is read."""
        i = math.floor(self._position)
        for k in (i, i + 1, i - 1, i + 2):  # nearest first
            self._walk_point(k)
        # Forget points far away so a show that walks for days keeps constant memory.
        for k in [k for k in self._walk_points if abs(k - i) > 4]:
            del self._walk_points[k]

    def _walk_point(self, k: int) -> np.ndarray:
        """Control point k, made lazily from the nearest existing one with the current walk_step."""
        if k in self._walk_points:
            return self._walk_points[k]
        nearest = min(self._walk_points, key=lambda j: (abs(j - k), j))
        step = 1 if k > nearest else -1
        a = max(0.0, float(self.walk_step))
        for j in range(nearest + step, k + step, step):
            # The noise depends only on (seed, restart, index, direction): repeatable.
            rng = np.random.default_rng([self.seed, self._walk_epoch, abs(j), 0 if step > 0 else 1, 0 if j >= 0 else 1])
            noise = rng.standard_normal(self.z_dim)
            self._walk_points[j] = math.cos(a) * self._walk_points[j - step] + math.sin(a) * noise
        return self._walk_points[k]

    def _walk_w(self, p: float) -> torch.Tensor:
        i = math.floor(p)
        t = p - i
        pts = [self._walk_point(k) for k in (i - 1, i, i + 1, i + 2)]  # made by _ensure_walk_points
        if t == 0.0:
            z = pts[1]
        else:
            z = catmull_rom(*pts, t)
            # Keep a typical length: plain splines of random vectors shrink toward the mean image.
            length = catmull_rom(*[float(np.linalg.norm(q)) for q in pts], t)
            z = z * (max(length, 0.0) / max(float(np.linalg.norm(z)), 1e-12))
        w = self._map(z)
        if self._walk_origin_w is not None:
            w = w + self._walk_origin_w
        return w
