"""Beat-locked keyframes (latent.beats_per_keyframe): arrivals land on every Nth beat, the walk
never jumps, a lost tempo hands back to the show's speed, and 0 leaves the walk as it was.
A synthetic band at a fixed frame rate drives the lock and a real trajectory; no real time."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _audio_files import write_wav
from _tiny_show import write_show

from installation.beat_lock import HANDOVER_SECONDS, BeatLock
from installation.config import load_show, validate_show
from installation.latent import LatentTrajectory
from installation.latent_director import LatentDirector
from installation.live import Frame
from installation.models.checkpoint import random_generator
from installation.show import Show, ShowOptions

FPS = 30.0
DT = 1.0 / FPS
SPK = 6.0  # seconds per keyframe at speed 1: far slower than the beat, so a lock shows


class Band:
    """Beat features as audio or Link make them: tempo, phase (0 at a beat), a pulse per beat."""

    def __init__(self, bpm: float = 120.0, beat: float = 0.37):
        self.bpm, self.beat = bpm, beat  # beats since an arbitrary start

    def features(self) -> dict[str, float]:
        before = self.beat
        self.beat += self.bpm * DT / 60.0
        crossed = math.floor(self.beat) > math.floor(before)
        return {"audio.tempo": self.bpm, "audio.beat": self.beat % 1.0 if self.bpm else 0.0,
                "audio.beat_pulse": 1.0 if crossed else 0.0}


def walk() -> LatentTrajectory:
    """A real trajectory (walk mode: the position never wraps); advance() needs no generator."""
    return LatentTrajectory(lambda z: None, z_dim=4, num_ws=2, w_avg=torch.zeros(4), seeds=[1],
                            mode="walk", seconds_per_keyframe=SPK)


def play(band: Band, frames: int, n: float = 4, trajectory=None, lock=None, schedule=None, pushes=None):
    """Frame by frame as the director does it; per frame: (beat count, position, speed)."""
    trajectory, lock = trajectory or walk(), lock or BeatLock()
    rows = []
    for k in range(frames):
        if schedule:
            schedule(k, band)
        if pushes and k in pushes:
            trajectory.push(pushes[k])
        f = band.features() if band.bpm else {"audio.tempo": 0.0, "audio.beat": 0.0, "audio.beat_pulse": 0.0}
        speed = lock.speed(f, DT, beats_per_keyframe=n, speed=1.0, position=trajectory.position + trajectory.pending_push,
                           seconds_per_keyframe=SPK)
        trajectory.advance(DT, speed)
        rows.append((band.beat, trajectory.position, speed))
    return np.array(rows)


def crossings(values: np.ndarray) -> np.ndarray:
    """Frames where floor(value) went up (an arrival, or a beat boundary)."""
    fl = np.floor(values + 1e-9)
    return np.nonzero(np.diff(fl) > 0)[0] + 1


def assert_arrivals_on_every_nth_beat(rows: np.ndarray, n: int, after_frame: int) -> None:
    beats, positions = rows[:, 0], rows[:, 1]
    arrivals = crossings(positions)
    arrivals = arrivals[arrivals >= after_frame]
    beat_frames = crossings(beats)
    assert len(arrivals) >= 3
    hit = []
    for a in arrivals:
        nearest = beat_frames[np.argmin(np.abs(beat_frames - a))]
        assert abs(nearest - a) <= 1, f"arrival at frame {a} is not within a frame of a beat"
        hit.append(math.floor(beats[nearest] + 1e-9))
    assert set(np.diff(hit)) == {n}, hit  # every Nth beat, none skipped


def test_at_120_bpm_keyframes_arrive_on_every_fourth_beat():
    rows = play(Band(120.0), int(16 * FPS), n=4)
    assert_arrivals_on_every_nth_beat(rows, 4, after_frame=int(2 * FPS))  # converged within 4 beats
    assert rows[-1, 2] == pytest.approx(120 / 60 / 4 * SPK)  # 1 keyframe / 2 s: speed 3 at 6 s per keyframe


def test_the_position_never_jumps_or_goes_back_through_engage_tempo_change_and_a_phase_jump():
    def schedule(k, band):
        if k == 60:
            band.bpm = 128.0  # the tempo appears mid-walk: the lock engages
        if k == 200:
            band.bpm = 90.0  # the band slows down
        if k == 300:
            band.beat += 0.3  # a beat tracker corrects its phase
    rows = play(Band(0.0), 500, n=2, schedule=schedule)
    steps = np.diff(rows[:, 1])
    assert steps.min() >= 0.0
    fastest_locked = 128 / 60 * DT / 2
    assert steps.max() <= 2 * fastest_locked  # at most twice the locked pace: a correction, never a jump
    assert_arrivals_on_every_nth_beat(rows[300:], 2, after_frame=int(2 * FPS))  # back on the grid


def test_a_tempo_change_moves_the_arrivals_onto_the_new_grid():
    def schedule(k, band):
        if k == 240:
            band.bpm = 100.0
    rows = play(Band(120.0), 240 + int(14 * FPS), n=4, schedule=schedule)
    assert_arrivals_on_every_nth_beat(rows[240:], 4, after_frame=int(2.5 * FPS))
    assert rows[-1, 2] == pytest.approx(100 / 60 / 4 * SPK)


def test_when_the_tempo_goes_the_walk_eases_back_to_its_own_speed_from_where_it_is():
    def schedule(k, band):
        if k == 200:
            band.bpm = 0.0
    rows = play(Band(120.0), 260, n=4, schedule=schedule)
    steps = np.diff(rows[:, 1])
    locked, own = 120 / 60 * DT / 4, 1.0 * DT / SPK
    assert np.abs(np.diff(steps[190:])).max() < 0.2 * (locked - own)  # the pace eases, no step in it
    handed_back = 200 + int(math.ceil(HANDOVER_SECONDS * FPS)) + 1
    assert np.all(rows[handed_back:, 2] == 1.0)  # then exactly latent.speed
    assert steps[handed_back:] == pytest.approx(own)


def test_a_push_moves_the_walk_whole_beats_ahead_and_a_small_one_is_pulled_back():
    plain = play(Band(120.0), 420, n=4)
    whole = play(Band(120.0), 420, n=4, pushes={120: 0.5})  # 2 beats of travel at 4 beats per keyframe
    small = play(Band(120.0), 420, n=4, pushes={120: 0.08})  # under half a beat (0.125 keyframes)
    assert whole[-1, 1] - plain[-1, 1] == pytest.approx(0.5, abs=1e-3)
    assert small[-1, 1] - plain[-1, 1] == pytest.approx(0.0, abs=1e-3)
    assert_arrivals_on_every_nth_beat(whole[180:], 4, after_frame=0)


def test_off_or_without_a_tempo_the_speed_is_the_shows_bit_for_bit():
    lock = BeatLock()
    band = Band(120.0)
    for speed in (1.0, 0.37, 2.5):
        f = band.features()
        assert lock.speed(f, DT, beats_per_keyframe=0.0, speed=speed, position=1.3, seconds_per_keyframe=SPK) == speed
        assert lock.speed({"audio.tempo": 0.0}, DT, beats_per_keyframe=4.0, speed=speed, position=1.3,
                          seconds_per_keyframe=SPK) == speed


# -- through the latent director, as a show runs it --------------------------------------------


@pytest.fixture(scope="module")
def G():
    return random_generator(3, 16)


def _director(G, n: float) -> tuple[LatentDirector, Frame]:
    cfg = validate_show({"model": {"checkpoint": "random:3:16"},
                         "latent": {"seeds": [1, 2, 3], "seconds_per_keyframe": SPK}})
    return LatentDirector(cfg, G, torch.device("cpu")), Frame.from_values({"latent.beats_per_keyframe": n})


def test_the_director_lands_keyframes_on_the_beat(G):
    director, frame = _director(G, 2.0)
    band, rows, unwrapped, last = Band(120.0), [], 0.0, 0.0
    for _ in range(int(8 * FPS)):
        director.step(frame, DT, band.features())
        p = director.trajectory.position  # wraps every 3 keyframes (loop)
        unwrapped += (p - last) % 3.0
        last = p
        rows.append((band.beat, unwrapped, 0.0))
    assert_arrivals_on_every_nth_beat(np.array(rows), 2, after_frame=int(2 * FPS))


def test_the_director_at_0_ignores_the_beat(G):
    a, off = _director(G, 0.0)
    b, _ = _director(G, 0.0)
    band = Band(120.0)
    for _ in range(20):
        assert torch.equal(a.step(off, DT, band.features()), b.step(off, DT, {}))


# -- a show: an offline render follows a click track's beat (live Link needs a network peer) ----


def test_a_render_of_a_click_track_lands_keyframes_on_the_clicks(tmp_path):
    sr, fps, bpm, first = 22050, 20, 120.0, 0.3
    clicks = np.zeros(sr * 9, np.float32)
    times = np.arange(first, 9.0, 60.0 / bpm)
    for t in times:
        i = int(t * sr)
        clicks[i:i + 400] = np.random.default_rng(i).standard_normal(400).astype(np.float32) * 0.8
    audio = write_wav(tmp_path / "clicks.wav", clicks, sr)
    cfg = load_show(write_show(tmp_path, fps=fps, extra="\n[audio]\nenabled = true\n"),
                    ["latent.beats_per_keyframe=2"])
    unwrapped, last = [], 0.0
    with Show(cfg, ShowOptions(headless=True, offline=True, audio_file=str(audio))) as show:
        def on_frame(k, px):
            nonlocal last
            p = show.latent.trajectory.position  # 3 keyframes, looping
            unwrapped.append((unwrapped[-1] if unwrapped else 0.0) + (p - last) % 3.0)
            last = p
        show.run(frames=9 * fps, on_frame=on_frame)
    arrivals = crossings(np.array(unwrapped))
    arrivals = arrivals[arrivals >= 5 * fps]  # the tracker has a tempo after ~3 s; then a beat or two
    click_frames = times * fps
    assert len(arrivals) >= 3
    for a in arrivals:  # frame k shows time k / fps
        assert np.min(np.abs(click_frames - a)) <= 1.0, f"arrival at frame {a} is not within a frame of a click"
    assert set(np.round(np.diff(arrivals) / fps, 1)) == {1.0}  # every 2nd beat at 120 bpm: one a second
