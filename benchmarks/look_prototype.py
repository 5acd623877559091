"""Prototype of the issue-13 look, offline: generator walk -> fill -> pigment flow -> tone -> mp4 -> look figures.

    .venv/bin/python benchmarks/look_prototype.py --out /tmp/look.mp4 --sheet /tmp/look.png
    .venv/bin/python benchmarks/look_prototype.py --set inject=0.1 --set curl=0.2 --tone exposure=1.0

Frame-exact: `--fps` output frames a second, a new generator frame every 1 / `--content-fps` s
(crossfaded in by the dye pass), a latent walk that glides between seeds' w every `--key-seconds`
(smoothstep in w), and an outward impulse every few seconds as an audio onset would give.
Prints the figures of `installation look` and the targets they are held to.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGETS = {"luma": (25, None), "colourfulness": (20, None), "self_similarity": (None, 0.12),
           "motion": (0.8, 6.0), "flicker": (None, 0.8)}


def parse_sets(items, cls):
    kinds = {f.name: f for f in fields(cls)}
    out = {}
    for item in items or []:
        name, _, value = item.partition("=")
        if name not in kinds:
            raise SystemExit(f"unknown {cls.__name__} field {name!r}")
        out[name] = int(float(value)) if isinstance(kinds[name].default, int) else float(value)
    return out


def latent_walk(G, seeds, seconds_per_key, device):
    """w(t): [1, num_ws, w_dim], smoothstep between the seeds' mapped w (truncation 0.8 towards w_avg)."""
    import torch

    from installation.generate import seed_to_z

    with torch.no_grad():
        ws = [G.mapping(torch.from_numpy(seed_to_z(s, G.z_dim)).float().to(device), None, truncation_psi=0.8)
              for s in seeds]

    def at(t):
        k = t / seconds_per_key
        i = int(math.floor(k)) % len(ws)
        f = k - math.floor(k)
        f = f * f * (3 - 2 * f)
        return ws[i] * (1 - f) + ws[(i + 1) % len(ws)] * f

    return at


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default="checkpoints/hubble64.pt")
    ap.add_argument("--out", default="/tmp/look_prototype.mp4")
    ap.add_argument("--sheet", default=None)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--render-scale", type=float, default=0.5)
    ap.add_argument("--seconds", type=float, default=12.0)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--content-fps", type=float, default=12.0)
    ap.add_argument("--key-seconds", type=float, default=4.0)
    ap.add_argument("--seeds", default="1,7,23,42,77")
    ap.add_argument("--fill", default="tiles", choices=["tiles", "cover", "mirror"])
    ap.add_argument("--set", action="append", help="PigmentParams field=value")
    ap.add_argument("--tone", action="append", help="ToneParams field=value")
    ap.add_argument("--impulse-every", type=float, default=3.0, help="seconds between onsets (0 = none)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    import torch

    from installation.look import format_summary, look, measure_video
    from installation.models.checkpoint import load_generator
    from installation.render.pigment import PigmentFlow, PigmentParams
    from installation.render.passes import PresentPass, RenderTarget
    from installation.render.shaders import ShaderLibrary
    from installation.render.tone import ToneParams
    from installation.render.window import HeadlessWindow, write_image

    torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    work = (round(width * args.render_scale), round(height * args.render_scale))
    params = replace(PigmentParams(), **parse_sets(args.set, PigmentParams))
    tone = replace(ToneParams(), **parse_sets(args.tone, ToneParams))
    G = load_generator(args.checkpoint, "cpu").eval()
    walk = latent_walk(G, [int(s) for s in args.seeds.split(",")], args.key_seconds, "cpu")

    window = HeadlessWindow(16, 16)
    library = ShaderLibrary(window.ctx)
    flow = PigmentFlow(library, work, fill=args.fill)
    upscale, picture = PresentPass(library), RenderTarget(window.ctx, (width, height), "f1")  # as ShaderChain
    content = None
    rng = np.random.default_rng(0)

    import imageio_ffmpeg

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    writer = imageio_ffmpeg.write_frames(args.out, (width, height), fps=args.fps, codec="libx264", pix_fmt_in="rgb24",
                                         pix_fmt_out="yuv420p", quality=None, macro_block_size=1,
                                         ffmpeg_log_level="error", output_params=["-crf", "18", "-preset", "veryfast"])
    writer.send(None)
    frames = int(round(args.seconds * args.fps))
    dt = 1.0 / args.fps
    next_content, content_period = 0.0, 1.0 / args.content_fps
    next_impulse = args.impulse_every
    gen_s = gl_s = 0.0
    for i in range(frames):
        t = i * dt
        if t >= next_content - 1e-9:
            t0 = time.perf_counter()
            with torch.no_grad():
                img = G.synthesis(walk(t), noise_mode="const")  # [1, 3, R, R] in about [-1, 1]
            frame = ((img[0].permute(1, 2, 0).numpy() * 127.5 + 128).clip(0, 255)).astype(np.uint8)
            if content is None:
                content = window.ctx.texture((frame.shape[1], frame.shape[0]), 3)
            write_image(content, frame)
            gen_s += time.perf_counter() - t0
            flow.push(content, params)
            last_content = next_content
            next_content += content_period
        if args.impulse_every and t >= next_impulse:
            flow.impulse(rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), 0.25, 0.18)
            next_impulse += args.impulse_every
        mix = min(1.0, (t - last_content) / content_period)
        t0 = time.perf_counter()
        upscale.render(picture.framebuffer, flow.render(dt, params, tone, content_mix=mix))
        rgb = np.frombuffer(picture.texture.read(), np.uint8).reshape(height, width, 4)[::-1, :, :3]
        gl_s += time.perf_counter() - t0
        writer.send(np.ascontiguousarray(rgb))
    writer.close()
    flow.release()
    upscale.release()
    picture.release()
    library.release()
    window.close()

    report, _ = measure_video(args.out, skip_seconds=2.0)
    summary = report.summary()
    if args.sheet:
        look(args.out, skip_seconds=2.0, sheet_path=args.sheet)
    ok = {k: (lo is None or summary[k] >= lo) and (hi is None or summary[k] <= hi) for k, (lo, hi) in TARGETS.items()}
    print(format_summary(summary))
    print("targets:", " ".join(f"{k}={'ok' if v else 'MISS'}" for k, v in ok.items()))
    print(f"generator {1000 * gen_s / max(1, math.ceil(args.seconds * args.content_fps)):.1f} ms/frame, "
          f"pigment+readback {1000 * gl_s / frames:.1f} ms/frame")
    result = {"summary": summary, "targets_met": ok}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
