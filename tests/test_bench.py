"""`installation bench` on tiny sizes: every field is there and holds a plausible value.
No timing assertions (the numbers depend on the machine); only that each part ran."""

from __future__ import annotations

import json
import math

import pytest

from installation.bench import DEFAULT_SHOW, BenchPlan, run_bench

from conftest import open_headless

REQUIRED = [
    "cpu_count", "torch_threads", "gl_renderer", "load_average_start", "load_average_end",
    "generator_ms_128", "generator_ms_256", "generator_ms_shipped", "conv_peak_gflops",
    "generator_gflops_128", "generator_gflops_256", "generator_gflops_shipped",
    "dream_ms_step", "display_fps_720p", "display_fps_1080p",
    "show_display_fps_p5", "show_display_fps_median", "show_content_fps",
    "osc_latency_ms_p50", "osc_latency_ms_p95", "offline_1080p_fps",
]


def tiny_plan() -> BenchPlan:
    return BenchPlan(
        generators=[("128", 16, 256, 32), ("256", 32, 256, 32)],
        generator_seconds=0.0,
        conv_shape=(8, 8, 8),
        dream_sizes=(32,),
        dreamers=("discriminator", "resnet18"),
        dream_steps=1,
        display_sizes={"720p": (32, 18), "1080p": (48, 27)},
        display_frames=2,
        show_size=(64, 36),
        show_seconds=1.0,
        osc_trials=1,
        osc_warmup=0.5,
        offline_size=(64, 36),
        offline_frames=3,
    )


@pytest.fixture(scope="module")
def result():
    open_headless().close()  # skips where EGL is missing
    return run_bench(tiny_plan(), render_scale=0.5)


def test_every_field_is_present_and_measured(result):
    errors = {k: v for k, v in result.items() if k.endswith("_error")}
    assert not errors, errors
    for key in REQUIRED:
        assert result.get(key) is not None, key
    for key in REQUIRED:
        value = result[key]
        if isinstance(value, float):
            assert math.isfinite(value) and value > 0, (key, value)
    json.dumps(result)  # one JSON object


def test_dream_table_has_every_dreamer_and_size(result):
    table = result["dream_ms_step"]
    assert set(table) == {"discriminator", "resnet18"}
    for name, sizes in table.items():
        assert set(sizes) == {"32"}, name
        assert sizes["32"] > 0


def test_the_live_show_ran_with_warps_and_the_requested_scale(result):
    assert result["show_warps"] is True
    assert result["show_render_scale"] == 0.5
    assert result["show_display_fps_p5"] <= result["show_display_fps_median"]
    assert result["osc_latency_ms_p50"] <= result["osc_latency_ms_p95"]
    assert result["osc_trials"] >= 1


def test_a_failing_part_is_reported_not_raised(monkeypatch):
    import installation.bench as bench

    def broken(*args, **kwargs):
        raise RuntimeError("no GL today")

    monkeypatch.setattr(bench, "bench_display", broken)
    out: dict = {}
    bench._guarded(out, ["display_fps_720p", "display_fps_1080p"], lambda: bench.bench_display(None, 1.0))
    assert out["display_fps_720p"] is None and out["display_fps_1080p"] is None
    assert "no GL today" in out["display_fps_720p_error"]


def test_offline_rate_is_measured_with_the_dream_off_though_the_show_dreams(result):
    from installation.config import load_show

    assert load_show(DEFAULT_SHOW).dream.enabled  # the shipped default show dreams ...
    assert result["offline_dream"] is False  # ... the offline target is for the dream off
