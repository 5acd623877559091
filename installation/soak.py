"""`installation soak`: play a show headless and live for N minutes and report, as
JSON lines on stdout, memory (RSS) and frame rates over time. Memory must stay flat.

    installation soak --minutes 120 --interval 60
    installation soak --minutes 2 --interval 10 --small --cue-every 5 --osc-rate 500

Each line: t (s), rss_mb, fps (display, over the clock's window), content_fps, frames,
content_frames, frame_errors, worker_restarts, osc_received; a last line "summary" gives the
RSS growth between the first report after warm-up and the end, and the fps range.
--osc-rate sends that many OSC datagrams a second from a second process (random parameter
values, garbage among them); --cue-every steps round the cue list.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GALLERY_SHOW = REPO / "show_configs" / "gallery.toml"
SMALL = ["show.width=320", "show.height=180"]

SENDER = r"""
import os, random, socket, struct, sys, time
port, rate = int(sys.argv[1]), float(sys.argv[2])
def msg(address, value):
    a = address.encode() + b"\0"; a += b"\0" * (-len(a) % 4)
    return a + b",f\0\0" + struct.pack(">f", value)
names = ["latent/speed", "warp/swirl", "warp/flow", "feedback/amount", "grade/exposure", "grade/hue"]
rng = random.Random(0)
pool = [msg("/installation/" + rng.choice(names), rng.uniform(-5, 5)) for _ in range(900)]
pool += [os.urandom(rng.randrange(1, 64)) for _ in range(100)]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
i, start = 0, time.perf_counter()
while True:
    sock.sendto(pool[i % len(pool)], ("127.0.0.1", port)); i += 1
    delay = start + i / rate - time.perf_counter()
    if delay > 0:
        time.sleep(delay)
"""


def rss_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # peak, where /proc is missing


def soak(show_file: Path = GALLERY_SHOW, minutes: float = 10.0, interval: float = 30.0, warmup: float = 20.0,
         overrides: tuple[str, ...] = (), small: bool = False, cue_every: float = 0.0, osc_rate: float = 0.0) -> dict:
    """Play for `minutes`, print a JSON line every `interval` seconds; returns the summary."""
    from installation.config import load_show
    from installation.show import Show, ShowOptions

    overrides = [*(SMALL if small else []), *overrides]
    cfg = load_show(show_file, overrides)
    opts = ShowOptions(headless=True, offline=False, osc_port=0 if cfg.osc.enabled else None,
                       overrides=tuple(overrides), gallery=True)
    sender = None
    reports = []
    with Show(cfg, opts, show_path=Path(show_file)) as show:
        if osc_rate > 0 and show.osc_port is not None:
            sender = subprocess.Popen([sys.executable, "-c", SENDER, str(show.osc_port), str(osc_rate)])
        start = time.perf_counter()
        state = {"next_report": start + interval, "next_cue": start + (cue_every or 1e18)}

        def report(now: float) -> None:
            osc = show.controls.osc.server.stats() if show.osc_port is not None else {}
            line = {
                "t": round(now - start, 1),
                "rss_mb": round(rss_mb(), 1),
                "fps": round(show.clock.stats()["fps"], 2),
                "content_fps": round(show.worker.content_fps(), 2),
                "frames": show.stats.frames,
                "content_frames": show.stats.content_frames,
                "frame_errors": show.stats.frame_errors,
                "worker_restarts": show.stats.worker_restarts,
                "osc_received": osc.get("received", 0),
                "scene": show.cues.scene_name,
            }
            reports.append(line)
            print(json.dumps(line), flush=True)

        def on_frame(k, pixels) -> None:
            now = time.perf_counter()
            if now >= state["next_cue"]:
                state["next_cue"] = now + cue_every
                if show.cfg.cues:  # round and round (a manual "next" stops at the last cue)
                    index = show.cues.cue_index
                    show.post("go_to_cue", 0 if index is None else (index + 1) % len(show.cfg.cues))
                else:
                    show.post("next_keyframe")
            if now >= state["next_report"]:
                state["next_report"] = now + interval
                report(now)

        try:
            show.run(seconds=minutes * 60.0, on_frame=on_frame)
        finally:
            if sender is not None:
                sender.terminate()
                sender.wait()
        report(time.perf_counter())
    settled = [r for r in reports if r["t"] >= warmup] or reports
    fps = [r["fps"] for r in settled]
    summary = {
        "summary": True,
        "minutes": minutes,
        "rss_mb_after_warmup": settled[0]["rss_mb"],
        "rss_mb_end": settled[-1]["rss_mb"],
        "rss_growth_mb": round(settled[-1]["rss_mb"] - settled[0]["rss_mb"], 1),
        "rss_mb_max": max(r["rss_mb"] for r in settled),
        "fps_min": min(fps),
        "fps_mean": round(sum(fps) / len(fps), 2),
        "frames": reports[-1]["frames"],
        "frame_errors": reports[-1]["frame_errors"],
        "worker_restarts": reports[-1]["worker_restarts"],
    }
    print(json.dumps(summary), flush=True)
    return summary
