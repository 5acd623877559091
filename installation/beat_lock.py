"""Beat-locked keyframes: while a tempo is known, the walk arrives at a keyframe on a beat,
one keyframe every `latent.beats_per_keyframe` beats (0: off).

The beat comes from the features (`audio.tempo`, `audio.beat`: audio beat tracking, or Ableton
Link where it leads; control/link.py). `BeatLock.speed()` is asked once a frame for the speed
the walk travels at, and returns the show's own `latent.speed` untouched while unlocked, so the
walk is bit for bit the old one. While locked:

- Phase-locked, not just the right pace: position p (keyframes) and the beat count b are held
  at p * N = b (mod 1), so p crosses an integer exactly when b does, every N beats.
- The tempo sets the pace; `latent.speed` is ignored (the band decides how fast the walk goes).
- Convergence is a phase correction by speed, never a jump: the error (wrapped to the nearest
  beat, at most half a beat) decays with a time constant of half a beat, so the walk is on the
  grid within a beat or two, and it never goes backwards.
- Engaging, releasing (the tempo gone, or N back to 0) and a change of N ease the speed over
  HANDOVER_SECONDS, so the pace changes smoothly; released, the walk goes on from where it is.
- An onset push still adds travel. The lock aims at where the push will land (the travel still
  to come counts) and rounds that to the nearest beat: a push moves the walk whole beats ahead,
  a push of under half a beat's travel is pulled back. Glides and seed jumps run as before; the
  lock picks the grid up after them.
- The features carry the beat phase, not the bar: which of every N beats gets the arrival is
  where the lock found the grid, not the bar's downbeat.
"""

from __future__ import annotations

import math

from installation.latent import smoothstep

CORRECTION_BEATS = 0.5  # phase error decays with this time constant (in beats)
HANDOVER_SECONDS = 0.5  # engaging / releasing / a new N eases the speed over this long


def _wrap(x: float) -> float:
    """x minus the nearest whole number: in [-0.5, 0.5)."""
    return (x + 0.5) % 1.0 - 0.5


class BeatClock:
    """The beat count b (beats, unwrapped) from the per-frame tempo and phase: b mod 1 is the
    reported phase, and its whole part is the one nearest to where the tempo says b should be,
    so tracker phase corrections pass through as small steps, not as lost or extra beats."""

    def __init__(self):
        self.beats: float | None = None  # None: no tempo

    def update(self, tempo: float, phase: float | None, dt: float) -> float | None:
        if not (math.isfinite(tempo) and tempo > 0) or phase is None or not math.isfinite(phase):
            self.beats = None
            return None
        phase %= 1.0
        if self.beats is None:
            self.beats = phase
        else:
            predicted = self.beats + tempo * dt / 60.0
            self.beats = predicted + _wrap(phase - predicted)
        return self.beats


class BeatLock:
    def __init__(self):
        self.clock = BeatClock()
        self._mode = 0  # the N locked to last frame (0: unlocked)
        self._last = None  # the speed handed out last frame
        self._handover: list[float] | None = None  # [from speed, seconds elapsed]

    def speed(self, features: dict[str, float], dt: float, *, beats_per_keyframe: float, speed: float,
              position: float, seconds_per_keyframe: float) -> float:
        """The speed (as `latent.speed`) to advance the walk by this frame. `position` is where the
        walk is plus the travel a push will still add; `features` are this frame's."""
        n = int(round(beats_per_keyframe)) if math.isfinite(beats_per_keyframe) else 0
        tempo = float(features.get("audio.tempo", 0.0))
        beats = self.clock.update(tempo, features.get("audio.beat"), dt)
        mode = n if n > 0 and beats is not None else 0
        if mode != self._mode and self._last is not None:
            self._handover = [self._last, 0.0]
        self._mode = mode
        want = self._locked_speed(n, tempo, beats, dt, position, seconds_per_keyframe) if mode else speed
        if self._handover is not None:
            self._handover[1] += dt
            start, elapsed = self._handover
            want = start + (want - start) * smoothstep(elapsed / HANDOVER_SECONDS)
            if elapsed >= HANDOVER_SECONDS:
                self._handover = None
        self._last = want
        return want

    @staticmethod
    def _locked_speed(n: int, tempo: float, beats: float, dt: float, position: float,
                      seconds_per_keyframe: float) -> float:
        if not dt > 0:
            return 0.0
        step = tempo * dt / 60.0  # beats this frame
        # Where the walk would be after a frame at the tempo's pace, against the beat: in beats,
        # to the nearest point where p * N and b agree mod 1.
        error = _wrap((position * n + step) - beats)
        correct = error * min(1.0, dt / (CORRECTION_BEATS * 60.0 / tempo))
        travel = max(0.0, step - correct) / n  # keyframes
        return travel * seconds_per_keyframe / dt
