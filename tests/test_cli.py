"""The command line: every subcommand and every option explains itself in --help."""

import subprocess
import sys

import click
from click.testing import CliRunner

from installation.cli import cli


def test_every_option_has_help():
    missing = []
    for name, command in cli.commands.items():
        assert command.help, f"{name} has no help text"
        for param in command.params:
            if isinstance(param, click.Option) and not param.help:
                missing.append(f"{name} {param.opts[0]}")
    assert not missing, f"options without help: {missing}"


def test_help_runs_for_every_command():
    runner = CliRunner()
    for name in cli.commands:
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "Usage:" in result.output


def test_python_dash_m_works():
    proc = subprocess.run([sys.executable, "-m", "installation", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and "installation" in proc.stdout
