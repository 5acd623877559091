"""Live parameters: range checks, rejection counting, smoothing toward targets."""

import math

from installation.config import ShowConfig
from installation.live import live_specs
from installation.params import Params, SetResult


def test_specs_cover_schema_live_fields():
    keys = {s.key for s in live_specs()}
    assert {"latent.speed", "warp.swirl", "dream.strength", "feedback.amount", "grade.hue"} <= keys
    assert all(s.lo < s.hi and s.lo <= s.default <= s.hi for s in live_specs())
    assert live_specs()[0].address.startswith("/installation/")


def test_set_clamps_and_counts():
    p = Params(ShowConfig())
    assert p.set("latent.speed", 100.0) is SetResult.CLAMPED
    assert p.get_target("latent.speed") == 8.0
    assert p.counters["clamped"] == 1


def test_bad_values_are_rejected_and_counted():
    p = Params(ShowConfig())
    before = p.get_target("warp.swirl")
    for bad in ("abc", None, float("nan"), True, [1]):
        assert p.set("warp.swirl", bad) is SetResult.REJECTED
    assert p.set("warp.nope", 1.0) is SetResult.REJECTED
    assert p.get_target("warp.swirl") == before
    assert p.counters["rejected"] == 6


def test_snapshot_eases_toward_target():
    p = Params(ShowConfig())
    start = p.snapshot(0.0)["latent.speed"]
    p.set("latent.speed", 3.0)
    first = p.snapshot(1 / 30)["latent.speed"]
    assert start < first < 3.0
    for _ in range(300):
        last = p.snapshot(1 / 30)["latent.speed"]
    assert math.isclose(last, 3.0, rel_tol=1e-4)


def test_offsets_add_and_stay_in_range():
    p = Params(ShowConfig())
    p.set("grade.saturation", 1.0, smoothing=False)
    p.set_offset("grade.saturation", 10.0)
    for _ in range(200):
        v = p.snapshot(0.1)["grade.saturation"]
    assert math.isclose(v, 3.0, rel_tol=1e-6)  # the schema's upper bound, not 11
