"""`installation bench`'s parts that run the whole show: the live show (display and content
fps), OSC-to-screen latency, and the offline render rate (bench.py runs them with the rest)."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from installation.bench_plan import BenchPlan


def _show_config(show_file: Path, size, overrides: list[str]):
    from installation.config import load_show

    return load_show(show_file, [f"show.width={size[0]}", f"show.height={size[1]}", *overrides])


def _open_live_show(show_file: Path, size, overrides: list[str]):
    """The show with dream on; if its dreamer cannot be built (e.g. a stand-in model has no
    discriminator), dream with resnet18 instead and say so."""
    from installation.show import Show, ShowOptions

    options = ShowOptions(headless=True, osc_port=0)
    attempts = [(["dream.enabled=true"], None),
                (["dream.enabled=true", "dream.net=resnet18", "dream.layer=layer2"], "resnet18 (layer2)")]
    errors = []
    for extra, fallback in attempts:
        try:
            cfg = _show_config(show_file, size, [*overrides, *extra])
            show = Show(cfg, options, show_path=show_file)
            note = f"{cfg.dream.net} ({cfg.dream.layer or 'its default layer'})" if fallback is None else fallback
            if errors:
                note += f"; the show file's dreamer failed: {errors[0]}"
            return show, note
        except Exception as e:
            errors.append(f"{type(e).__name__}: {e}")
    cfg = _show_config(show_file, size, [*overrides, "dream.enabled=false"])
    return Show(cfg, options, show_path=show_file), f"off (dream failed: {errors[-1]})"


def _stamp_presents(show) -> list[float]:
    """Record the time of every present (the moment a frame goes to the screen)."""
    stamps: list[float] = []
    present = show.window.present

    def stamped(texture):
        present(texture)
        stamps.append(time.perf_counter())

    show.window.present = stamped
    return stamps


def _run_for(show, seconds: float, on_frame=None) -> None:
    """Run a live show for `seconds` of wall time (show.run counts frames at the target fps,
    which a slow machine would stretch)."""
    timer = threading.Timer(seconds, show.request_stop)
    timer.daemon = True
    timer.start()
    try:
        show.run(on_frame=on_frame)
    finally:
        timer.cancel()


def _measure_after_first_content(show, seconds: float, timeout: float = 60.0) -> dict:
    """Start a thread that waits for the show's first content frame (tracing, dreamer set-up
    and shader compiles are warm-up, not the show's rate), then counts content frames for
    `seconds` and stops the show. Returns the dict it fills: start, seconds, made."""
    window: dict = {}

    def measure():
        give_up = time.perf_counter() + timeout
        while show.worker.frames_made < 1 and time.perf_counter() < give_up:
            time.sleep(0.01)
        made0, start = show.worker.frames_made, time.perf_counter()
        window["start"] = start
        time.sleep(seconds)
        window["made"] = show.worker.frames_made - made0
        window["seconds"] = time.perf_counter() - start
        show.request_stop()

    threading.Thread(target=measure, name="bench-live-show", daemon=True).start()
    return window


def bench_live_show(plan: BenchPlan, show_file: Path, overrides: list[str]) -> dict:
    show, dream_note = _open_live_show(show_file, plan.show_size, overrides)
    try:
        stamps = _stamp_presents(show)
        window = _measure_after_first_content(show, plan.show_seconds)
        show.run()
        seconds, made = window["seconds"], window["made"]
        stamps = [s for s in stamps if s >= window["start"]]
        warps = show.cfg.warp.swirl != 0 and show.cfg.warp.flow != 0
        render_scale = show.cfg.show.render_scale
        target_fps = show.cfg.show.fps
    finally:
        show.close()
    intervals = np.diff(np.array(stamps))  # only frames after the first content frame
    fps = 1.0 / intervals[intervals > 0]
    return {
        "show_display_fps_p5": round(float(np.percentile(fps, 5)), 2),
        "show_display_fps_median": round(float(np.median(fps)), 2),
        "show_content_fps": round(made / seconds, 2),
        "show_target_fps": target_fps,
        "show_dream": dream_note,
        "show_warps": warps,
        "show_render_scale": render_scale,
        "show_seconds": round(seconds, 1),
    }


def bench_osc_latency(plan: BenchPlan, show_file: Path, overrides: list[str]) -> dict:
    """Send /installation/grade/exposure -4 at random moments; latency = from the send to the
    present of the first frame (read back from the live show) whose mean brightness fell by
    a fifth. Then restore the exposure and wait for the picture to recover. The present's
    time stamp is used, so the bench's own read-back of each frame is not counted."""
    from pythonosc.udp_client import SimpleUDPClient

    show, _ = _open_live_show(show_file, plan.show_size, overrides)
    osc = show.controls.osc.server if show.controls.osc is not None else None
    if osc is None:
        show.close()
        raise RuntimeError("the show has no OSC server (osc.enabled = false?)")
    client = SimpleUDPClient("127.0.0.1", osc.port)
    # The exposure the picture runs through: the pigment flow's tone, else the grade.
    section = "tone" if show.cfg.pigment.enabled else "grade"
    base_exposure = getattr(show.cfg, section).exposure
    exposure_address = f"/installation/{section}/exposure"
    lock = threading.Lock()
    state = {"sent_at": None, "baseline": None, "recent": [], "latencies": [], "done": False, "trial_start": None}
    rng = np.random.default_rng(1)

    presents = _stamp_presents(show)

    def on_frame(k, pixels):
        # The moment this frame went to the screen (not after the read-back the bench needs).
        now = presents[-1] if presents else time.perf_counter()
        level = float(pixels[::8, ::8].mean())  # a subsample: the exposure change is global
        with lock:
            sent = state["sent_at"]
            if sent is None:
                state["recent"] = (state["recent"] + [level])[-5:]
                return
            if now <= sent:  # presented before the message left: cannot show it yet
                return
            if state["baseline"] is None:
                state["baseline"] = float(np.median(state["recent"])) if state["recent"] else level
            if level < 0.8 * state["baseline"]:
                state["latencies"].append(1000.0 * (now - sent))
                state["sent_at"] = None
                state["baseline"] = None
                state["recent"] = []
                client.send_message(exposure_address, float(base_exposure))
                state["trial_start"] = now
                if len(state["latencies"]) >= plan.osc_trials:
                    show.request_stop()
            elif now - sent > 2.0:  # missed (should not happen): restore and try again
                state["sent_at"] = None
                state["baseline"] = None
                client.send_message(exposure_address, float(base_exposure))
                state["trial_start"] = now

    def sender():
        time.sleep(plan.osc_warmup)  # the show starts and the first content frames arrive
        while not state["done"]:
            time.sleep(0.05 + 0.3 * float(rng.random()))  # a random moment, not in step with frames
            with lock:
                recovered = state["trial_start"] is None or time.perf_counter() - state["trial_start"] > 1.0
                if state["sent_at"] is None and recovered and len(state["recent"]) >= 3:
                    state["sent_at"] = time.perf_counter()  # before the send: the show may be faster
                    client.send_message(exposure_address, -4.0)

    thread = threading.Thread(target=sender, name="bench-osc-sender", daemon=True)
    thread.start()
    try:
        _run_for(show, plan.osc_warmup + 2.0 + 2.5 * plan.osc_trials, on_frame=on_frame)  # ends early when done
    finally:
        state["done"] = True
        show.close()
        thread.join(timeout=2)
    latencies = state["latencies"]
    if not latencies:
        raise RuntimeError("no OSC change was seen on screen")
    return {
        "osc_latency_ms_p50": round(float(np.percentile(latencies, 50)), 1),
        "osc_latency_ms_p95": round(float(np.percentile(latencies, 95)), 1),
        "osc_trials": len(latencies),
    }


def bench_offline(plan: BenchPlan, show_file: Path, overrides: list[str]) -> dict:
    """The offline render rate with the dream off (the rate the target is set for; the shipped
    shows dream, which the live-show part measures)."""
    from installation.show import Show, ShowOptions

    cfg = _show_config(show_file, plan.offline_size, [*overrides, "dream.enabled=false"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.mp4"
        show = Show(cfg, ShowOptions(headless=True, offline=True, record=path), show_path=show_file)
        try:
            start = time.perf_counter()
            stats = show.run(frames=plan.offline_frames)
            show.recording.stop()  # the encoder's tail counts too
            seconds = time.perf_counter() - start
        finally:
            show.close()
        size = path.stat().st_size if path.exists() else 0
    if stats.recorded < plan.offline_frames or size == 0:
        raise RuntimeError(f"offline render wrote {stats.recorded} of {plan.offline_frames} frames")
    return {
        "offline_1080p_fps": round(plan.offline_frames / seconds, 2),
        "offline_size": f"{plan.offline_size[0]}x{plan.offline_size[1]}",
        "offline_dream": bool(cfg.dream.enabled),
    }


