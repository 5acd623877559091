"""Every subcommand of `installation`. Thin: parse options, then call the library.

Heavy imports (torch, moderngl) happen inside the commands so `--help` stays fast.
"""

from __future__ import annotations

import sys

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


def main() -> None:
    cli(prog_name="installation")


if __name__ == "__main__":
    sys.exit(main())
