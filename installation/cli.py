"""Every subcommand of `installation`. Thin: parse options, then call the library.

Heavy imports (torch, moderngl) happen inside the commands so `--help` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from installation import __version__


from installation.cli_train import COMMANDS as TRAINING_COMMANDS
from installation.cli_image import COMMANDS as IMAGE_COMMANDS
from installation.cli_train import UserError, make_out_folder


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="installation")
def cli() -> None:
    """A real-time generative installation and VJ tool.

    A StyleGAN2 generator walks its latent space, DeepDream hallucinates on the frames,
    GLSL shaders swirl, advect and feed the image back; OSC and audio steer it.
    """


# --- subcommands are added below, one block each ---------------------------------------


@cli.command("osc-addresses")
@click.option("--write", "write_path", type=click.Path(dir_okay=False), help="Update this README between its markers.")
@click.option("--check", "check_path", type=click.Path(dir_okay=False), help="Fail if this README's list is out of date.")
def osc_addresses(write_path: str | None, check_path: str | None) -> None:
    """Print every OSC address (live parameters, actions, queries) as Markdown, from the schema."""
    from pathlib import Path

    from installation.control import osc_docs

    path = write_path or check_path
    if path is None:
        click.echo(osc_docs.address_table_markdown(), nl=False)
        return
    try:
        text = Path(path).read_text(encoding="utf-8")
        updated = osc_docs.update_readme(text)
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: {e}") from None
    if check_path:
        if updated != text:
            raise UserError(f"{path}: the OSC address list is out of date; run `installation osc-addresses --write {path}`")
        click.echo(f"{path}: OSC address list is up to date")
    else:
        Path(path).write_text(updated, encoding="utf-8")
        click.echo(f"{path}: OSC address list written")


def _setup_logging(verbose: bool) -> None:
    import logging

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )


def _load_show_or_fail(show_file, overrides):
    from installation.config import ShowConfigError, load_show

    try:
        return load_show(show_file, overrides)
    except ShowConfigError as e:
        raise UserError(str(e)) from None


show_argument = click.argument("show_file", metavar="SHOW", type=click.Path(dir_okay=False, path_type=Path))
set_option = click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE",
    help="Override a show-file value, e.g. --set latent.speed=0.5 (repeatable).",
)
verbose_option = click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")


def _run_show(show_file, overrides, **kw):
    from installation.runner import SetupInterrupted, ShowSetupError, run_show

    try:
        return run_show(show_file, overrides, **kw)
    except ShowSetupError as e:
        raise UserError(str(e)) from None
    except SetupInterrupted as e:
        click.echo(f"{show_file}: interrupted by signal {e.signum} during set-up; nothing was played", err=True)
        sys.exit(128 + e.signum)


def _report(stats, what: str) -> None:
    fps = stats.frames / stats.seconds if stats.seconds > 0 else 0.0
    click.echo(
        f"{what}: {stats.frames} frames in {stats.seconds:.1f} s ({fps:.1f} fps), "
        f"{stats.content_frames} content frames, {stats.frame_errors} frame errors"
    )
    if stats.record_path is not None:
        click.echo(f"recorded {stats.recorded} frames to {stats.record_path} ({stats.record_dropped} dropped)")
    if stats.record_error is not None:
        click.echo(f"recording failed: {stats.record_error}", err=True)


@cli.command()
@show_argument
@set_option
@click.option("--fullscreen", is_flag=True, help="Fullscreen on the chosen monitor.")
@click.option("--monitor", default=0, show_default=True, help="Monitor index for fullscreen (see `installation monitors`).")
@click.option("--record", type=click.Path(dir_okay=False, path_type=Path), help="Record every displayed frame to this mp4.")
@click.option("--seconds", type=float, help="Stop after this many seconds (default: run until Esc or the window closes).")
@click.option("--osc-port", type=int, help="Listen for OSC on this port instead of the show file's.")
@click.option("--query-port", type=click.IntRange(0, 65535),
              help="Serve OSCQuery (the parameter tree over HTTP) on this port (default: osc.query_port, else the OSC port + 1, "
                   "skipped with a warning when that one is taken).")
@click.option("--midi", "midi_port", metavar="PORT",
              help="Open this MIDI input (a name from `installation midi --list`) for the show's [[midi]] mappings and MIDI learn.")
@click.option("--ndi", metavar="NAME", help="Send every displayed frame as the NDI source NAME (default: output.ndi; needs ndi-python).")
@click.option("--virtual-camera", is_flag=True,
              help="Send every displayed frame to a virtual camera (v4l2loopback on Linux, OBS elsewhere; needs pyvirtualcam).")
@click.option("--link", is_flag=True,
              help="Join the Ableton Link session: its tempo and beat drive the beat features (needs LinkPython-extern).")
@click.option("--headless", is_flag=True, help="Run the live loop without a window (EGL), e.g. for soak tests.")
@click.option("--fallback-seconds", default=20.0, show_default=True,
              help="Without a display, render this many seconds to a file instead of playing.")
@click.option("--gallery", is_flag=True,
              help="Unattended: Esc must be pressed twice within 2 s, errors never reach the screen.")
@click.option("--log", "log_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Log the performance (every control change, with its frame) to this JSON-lines file, "
                   "to render it again offline at any size: `render SHOW --replay FILE`.")
@verbose_option
def play(show_file, overrides, fullscreen, monitor, record, seconds, osc_port, query_port, midi_port, ndi,
         virtual_camera, link, headless, fallback_seconds, gallery, log_path, verbose):
    """Play SHOW live in a window (fullscreen with --fullscreen).

    Keys: F fullscreen, R record on/off, Space / Backspace next / previous keyframe,
    Right, Page Down or N / Left, Page Up or P next / previous cue, 1-9 cue 1-9,
    D dream on/off, S screenshot, Esc quit (twice with --gallery). The show file and the
    shaders are reloaded when they change on disk. Without a display, says so and renders a
    clip to renders/<show>.mp4 instead.
    """
    _setup_logging(verbose)
    cfg = _load_show_or_fail(show_file, overrides)
    from installation.render.window import has_display
    from installation.show import ShowOptions

    if log_path is not None:
        make_out_folder(log_path, "--log")
    if not headless and not has_display():
        out = Path("renders") / f"{show_file.stem}.mp4"
        out.parent.mkdir(parents=True, exist_ok=True)
        click.echo(f"No display found (DISPLAY is not set or no screen answers): rendering "
                   f"{fallback_seconds:g} s of '{cfg.show.name}' to {out} instead"
                   + (" (an offline render has no performance to --log)." if log_path else "."))
        opts = ShowOptions(headless=True, offline=True, record=out, progress=True)
        stats = _run_show(show_file, overrides, options=opts, seconds=seconds or fallback_seconds)
        _report(stats, "render")
        return
    opts = ShowOptions(headless=headless, fullscreen=fullscreen, monitor=monitor, record=record, osc_port=osc_port,
                       query_port=query_port, midi_port=midi_port, gallery=gallery, ndi=ndi,
                       virtual_camera=virtual_camera, link=link, log=log_path)
    stats = _run_show(show_file, overrides, options=opts, seconds=seconds)
    _report(stats, "play")


@cli.command()
@click.option("--list", "list_ports", is_flag=True, help="Name the MIDI input ports (for play --midi PORT).")
def midi(list_ports):
    """MIDI input: `--list` names the ports that `play --midi PORT` can open."""
    from installation.control.midi import input_names

    if not list_ports:
        raise UserError("midi: nothing to do; use --list to name the MIDI input ports")
    try:
        names = input_names()
    except RuntimeError as e:
        raise UserError(str(e)) from None
    for name in names:
        click.echo(name)
    if not names:
        click.echo("no MIDI input ports")


@cli.command()
def monitors():
    """List the connected monitors and their video modes (for play --fullscreen --monitor N)."""
    from installation.render.window import has_display, list_monitors

    if not has_display():
        click.echo("No display found (DISPLAY is not set or no screen answers): no monitors to list.")
        return
    found = list_monitors()
    if not found:
        click.echo("The display reports no monitors.")
    for m in found:
        cur = m["current"]
        now = f"{cur['width']}x{cur['height']} @ {cur['refresh']} Hz" if cur else "unknown mode"
        click.echo(f"{m['index']}: {m['name'] or 'monitor'} ({now})")
        for mode in m["modes"]:
            click.echo(f"     {mode['width']}x{mode['height']} @ {mode['refresh']} Hz")


@cli.command()
@show_argument
@set_option
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Output mp4 (H.264).")
@click.option("--seconds", type=float, help="Length of the render (default 10; with --replay the performance's).")
@click.option("--audio", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Drive the show's audio mappings from this file and mux it into the video "
                   "(with --replay: only mux it; the logged features drive the picture).")
@click.option("--replay", type=click.Path(dir_okay=False, path_type=Path),
              help="Render this performance (a `play --log` file) as it was played, frame for frame; "
                   "--set show.width=3840 --set show.height=2160 renders it at that size.")
@verbose_option
def render(show_file, overrides, out, seconds, audio, replay, verbose):
    """Render SHOW offline and headless to an mp4, frame-exact: frame k is the show at
    time k / fps, so two renders of the same show are identical. With --replay, a performance
    logged by `play --log` instead: the same frames as it was played live."""
    _setup_logging(verbose)
    perf = None
    if replay is None:
        _load_show_or_fail(show_file, overrides)
    else:
        perf = _read_performance_or_fail(replay, show_file, overrides, seconds)
    from installation.show import ShowOptions

    make_out_folder(out, "--out")
    opts = ShowOptions(headless=True, offline=True, record=out, audio_file=audio or (perf and perf.audio_file),
                       progress=True, replay=perf)
    seconds = 10.0 if seconds is None else seconds
    stats = _run_show(show_file, overrides, options=opts, seconds=seconds)
    _report(stats, "render")
    if stats.record_error is not None:
        raise UserError(f"{out}: the video was not written completely")
    if stats.interrupted_by is not None:  # the frames so far are kept, playable; the render is not complete
        click.echo(f"render interrupted by signal {stats.interrupted_by}: kept {stats.recorded} frames "
                   f"in {out}", err=True)
        sys.exit(128 + stats.interrupted_by)


def _read_performance_or_fail(path, show_file, overrides, seconds):
    from installation.config import ShowConfigError
    from installation.replay import PerformanceError, read_performance

    if seconds is not None:
        raise UserError("--seconds: a replay is as long as the performance; leave --seconds out")
    try:
        perf = read_performance(path)
        perf.config(show_file, tuple(overrides))  # the overrides apply; fps and seed stay
    except (PerformanceError, ShowConfigError) as e:
        raise UserError(str(e)) from None
    if show_file.is_file() and show_file.read_text(encoding="utf-8", errors="replace") != perf.show_text:
        click.echo(f"note: {show_file} differs from the show file this performance was played with; "
                   "replaying the logged version", err=True)
    return perf


# --- images: project, generate, dream, convert (cli_image.py) -------------------------

for _command in IMAGE_COMMANDS:
    cli.add_command(_command)


@cli.command("show-schema")
def show_schema():
    """Print every show-file key with its default and what it does (live ones with their range)."""
    from installation.config import describe_schema

    click.echo(describe_schema())


@cli.command()
@click.option("--quick", is_flag=True, help="Every field, each part measured briefly (< 1 minute).")
@click.option("--checkpoint", help="Model for the show and generator_ms_shipped (default: the show file's).")
@click.option("--show", "show_file", type=click.Path(exists=True, dir_okay=False), help="Show file (default: show_configs/default.toml).")
@click.option("--render-scale", type=click.FloatRange(0.25, 1.0), help="Override show.render_scale.")
def bench(quick, checkpoint, show_file, render_scale):
    """Measure how real-time this machine runs the show; prints one JSON object."""
    import json
    import logging

    from installation.bench import BenchPlan, run_bench

    if checkpoint is not None and not checkpoint.startswith("random:") and not Path(checkpoint).is_file():
        raise UserError(f"--checkpoint {checkpoint}: no such file (or use 'random:SEED')")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    plan = BenchPlan.quick() if quick else BenchPlan.full()
    result = run_bench(plan, checkpoint=checkpoint, show_file=show_file, render_scale=render_scale, progress=True)
    click.echo(json.dumps(result, indent=2))


for _command in TRAINING_COMMANDS:
    cli.add_command(_command)


@cli.command()
@click.option("--show", "show_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Show file (default: show_configs/gallery.toml).")
@click.option("--minutes", default=10.0, show_default=True, help="How long to play.")
@click.option("--interval", default=30.0, show_default=True, help="Seconds between reports.")
@click.option("--warmup", default=20.0, show_default=True, help="Seconds before the memory baseline is taken.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a show-file key.")
@click.option("--small", is_flag=True, help="320x180 output (for small machines).")
@click.option("--cue-every", default=0.0, help="Step to the next cue this often (seconds).")
@click.option("--osc-rate", default=0.0, help="OSC datagrams a second from a second process.")
def soak(show_file, **kw):
    """Play a show headless for N minutes; JSON lines of memory and frame rates (memory must stay flat)."""
    from installation.soak import GALLERY_SHOW, soak as run_soak

    run_soak(show_file or GALLERY_SHOW, **kw)


@cli.command("look")
@click.argument("video", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip", default=2.0, show_default=True, type=click.FloatRange(min=0.0), help="Seconds to skip at the start.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (summary and per-frame figures).")
@click.option("--sheet", type=click.Path(dir_okay=False, path_type=Path), help="Write a 4x3 contact sheet PNG here.")
def look_command(video, skip, as_json, sheet):
    """Measure a recording's look: luma, colourfulness, self-similarity, motion, flicker (installation/look.py)."""
    from installation.look import look

    try:
        click.echo(look(video, skip_seconds=skip, sheet_path=sheet, as_json=as_json))
    except (ValueError, FileNotFoundError, OSError, RuntimeError) as e:
        raise UserError(f"{video}: {e}") from None


def main() -> None:
    cli(prog_name="installation")


if __name__ == "__main__":
    sys.exit(main())
