"""FrameClock with an injected fake time: no sleeping, no timing assertions."""

from __future__ import annotations

import numpy as np
import pytest

from installation.clock import FrameClock


class FakeTime:
    """A clock that only moves when the test (or a sleep) moves it."""

    def __init__(self, start: float = 100.0):
        self.now = start
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_offline_times_are_exact():
    fake = FakeTime()
    clock = FrameClock(30, offline=True, time_fn=fake.time, sleep_fn=fake.sleep)
    ts, dts = [], []
    for _ in range(301):
        t, dt = clock.tick()
        ts.append(t)
        dts.append(dt)
    assert ts == [k / 30 for k in range(301)]  # exact, no accumulated rounding
    assert ts[300] == 10.0
    assert dts[0] == 0.0
    assert dts[1:] == pytest.approx([1 / 30] * 300, abs=1e-12)
    assert sum(dts) == pytest.approx(ts[-1], abs=1e-9)
    assert fake.slept == []  # offline never sleeps
    assert clock.frame == 300


def test_live_paces_to_fps_by_sleeping():
    fake = FakeTime()
    clock = FrameClock(50, offline=False, time_fn=fake.time, sleep_fn=fake.sleep)
    assert clock.tick() == (0.0, 0.0)
    for k in range(1, 11):
        fake.now += 0.005  # the frame's work takes 5 ms of a 20 ms period
        t, dt = clock.tick()
        assert t == pytest.approx(k * 0.02)
        assert dt == pytest.approx(0.02)
    assert fake.slept == pytest.approx([0.015] * 10)
    s = clock.stats()
    assert s["late"] == 0 and s["dropped"] == 0
    assert s["fps"] == pytest.approx(50)
    assert s["median_fps"] == pytest.approx(50)


def test_live_counts_late_and_dropped_frames_and_does_not_burst():
    fake = FakeTime()
    clock = FrameClock(10, offline=False, time_fn=fake.time, sleep_fn=fake.sleep)
    clock.tick()
    fake.now += 0.35  # a 350 ms hitch: 2.5 periods late at the next deadline (t = 0.1)
    t, dt = clock.tick()
    assert t == pytest.approx(0.35) and dt == pytest.approx(0.35)
    assert clock.late == 1 and clock.dropped == 2
    # The schedule restarts from now: the next frame waits a full period, it does not rush.
    fake.now += 0.01
    t, dt = clock.tick()
    assert t == pytest.approx(0.45)
    assert fake.slept[-1] == pytest.approx(0.09)
    # Slightly late (under half a period) is not counted as late.
    fake.now += 0.13
    clock.tick()
    assert clock.late == 1


def test_stats_on_synthetic_timings():
    fake = FakeTime()
    clock = FrameClock(1000, offline=True, window=100, time_fn=fake.time, sleep_fn=fake.sleep)
    # 90 frames at 20 ms (50 fps) and 10 frames at 100 ms (10 fps).
    durations = [0.02] * 90 + [0.1] * 10
    clock.tick()
    for d in durations:
        fake.now += d
        clock.tick()
    s = clock.stats()
    inst = 1.0 / np.array(durations)
    assert s["frames"] == 101
    assert s["fps"] == pytest.approx(100 / sum(durations))
    assert s["median_fps"] == pytest.approx(50)
    assert s["p5_fps"] == pytest.approx(np.percentile(inst, 5))
    assert s["p5_fps"] < 20  # the slow frames show up in p5 but not in the median
    assert s["target_fps"] == 1000
    assert len(clock.fps_history) == 100


def test_stats_window_rolls():
    fake = FakeTime()
    clock = FrameClock(30, offline=True, window=10, time_fn=fake.time, sleep_fn=fake.sleep)
    clock.tick()
    for d in [0.5] * 10 + [0.01] * 10:  # slow start, then only fast frames in the window
        fake.now += d
        clock.tick()
    assert clock.stats()["median_fps"] == pytest.approx(100)
    assert len(clock.fps_history) == 10


def test_stats_before_any_frame_and_bad_fps():
    clock = FrameClock(30, offline=False)
    s = clock.stats()
    assert s["fps"] == 0.0 and s["frames"] == 0
    with pytest.raises(ValueError, match="fps 0"):
        FrameClock(0)


def test_restart_schedule_counts_the_next_deadline_from_now():
    now = [0.0]
    slept = []
    clock = FrameClock(10, time_fn=lambda: now[0], sleep_fn=lambda s: (slept.append(s), now.__setitem__(0, now[0] + s)))
    clock.tick()  # t = 0, deadline 0
    now[0] = 0.05  # woken half-way through the period
    clock.restart_schedule()
    clock.tick()  # next deadline is 0.05 + 0.1, not 0.1
    assert abs(slept[-1] - 0.1) < 1e-9
    assert abs(clock.t - 0.15) < 1e-9
