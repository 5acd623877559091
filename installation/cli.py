"""Every subcommand of `installation`. Thin: parse options, then call the library.

Heavy imports (torch, moderngl) happen inside the commands so `--help` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from installation import __version__


class UserError(click.ClickException):
    """An error a user can fix; printed without a traceback."""


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="installation")
def cli() -> None:
    """A real-time generative installation and VJ tool.

    A StyleGAN2 generator walks its latent space, DeepDream hallucinates on the frames,
    GLSL shaders swirl, advect and feed the image back; OSC and audio steer it.
    """


# --- subcommands are added below, one block each ---------------------------------------

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


def _report(stats, what: str) -> None:
    fps = stats.frames / stats.seconds if stats.seconds > 0 else 0.0
    click.echo(
        f"{what}: {stats.frames} frames in {stats.seconds:.1f} s ({fps:.1f} fps), "
        f"{stats.content_frames} content frames, {stats.frame_errors} frame errors"
    )
    if stats.record_path is not None:
        click.echo(f"recorded {stats.recorded} frames to {stats.record_path} ({stats.record_dropped} dropped)")


@cli.command()
@show_argument
@set_option
@click.option("--fullscreen", is_flag=True, help="Fullscreen on the chosen monitor.")
@click.option("--monitor", default=0, show_default=True, help="Monitor index for fullscreen (see `installation monitors`).")
@click.option("--record", type=click.Path(dir_okay=False, path_type=Path), help="Record every displayed frame to this mp4.")
@click.option("--seconds", type=float, help="Stop after this many seconds (default: run until Esc or the window closes).")
@click.option("--osc-port", type=int, help="Listen for OSC on this port instead of the show file's.")
@click.option("--headless", is_flag=True, help="Run the live loop without a window (EGL), e.g. for soak tests.")
@click.option("--fallback-seconds", default=20.0, show_default=True,
              help="Without a display, render this many seconds to a file instead of playing.")
@verbose_option
def play(show_file, overrides, fullscreen, monitor, record, seconds, osc_port, headless, fallback_seconds, verbose):
    """Play SHOW live in a window (fullscreen with --fullscreen).

    Keys: F fullscreen, R record on/off, Space next keyframe, Backspace previous keyframe,
    D dream on/off, S screenshot, Esc quit. Without a display, says so and renders a clip
    to renders/<show>.mp4 instead.
    """
    _setup_logging(verbose)
    cfg = _load_show_or_fail(show_file, overrides)
    from installation.render.window import has_display
    from installation.runner import run_show
    from installation.show import ShowOptions

    if not headless and not has_display():
        out = Path("renders") / f"{show_file.stem}.mp4"
        out.parent.mkdir(parents=True, exist_ok=True)
        click.echo(f"No display found (DISPLAY is not set or no screen answers): rendering "
                   f"{fallback_seconds:g} s of '{cfg.show.name}' to {out} instead.")
        opts = ShowOptions(headless=True, offline=True, record=out, progress=True)
        stats = run_show(show_file, overrides, options=opts, seconds=seconds or fallback_seconds)
        _report(stats, "render")
        return
    opts = ShowOptions(headless=headless, fullscreen=fullscreen, monitor=monitor, record=record, osc_port=osc_port)
    stats = run_show(show_file, overrides, options=opts, seconds=seconds)
    _report(stats, "play")


@cli.command()
@show_argument
@set_option
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Output mp4 (H.264).")
@click.option("--seconds", type=float, default=10.0, show_default=True, help="Length of the render.")
@click.option("--audio", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Drive the show's audio mappings from this file and mux it into the video.")
@verbose_option
def render(show_file, overrides, out, seconds, audio, verbose):
    """Render SHOW offline and headless to an mp4, frame-exact: frame k is the show at
    time k / fps, so two renders of the same show are identical."""
    _setup_logging(verbose)
    _load_show_or_fail(show_file, overrides)
    from installation.runner import run_show
    from installation.show import ShowOptions

    out.parent.mkdir(parents=True, exist_ok=True)
    opts = ShowOptions(headless=True, offline=True, record=out, audio_file=audio, progress=True)
    stats = run_show(show_file, overrides, options=opts, seconds=seconds)
    _report(stats, "render")



def main() -> None:
    cli(prog_name="installation")


if __name__ == "__main__":
    sys.exit(main())
