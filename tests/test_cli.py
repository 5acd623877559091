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


def test_missing_files_are_clean_errors_that_name_them(tmp_path):
    """Each subcommand given a file that is not there: a click error naming it, no traceback."""
    runner = CliRunner()
    cases = [
        ["generate", "nope.pt"],
        ["dream", "nope.png", "--out", "o.png"],
        ["convert", "nope.pkl", "o.pt"],
        ["metrics", "random:0", "nope"],
        ["play", "nope.toml"],
        ["render", "nope.toml", "--out", "o.mp4"],
        ["dataset", "nope", "--res", "16", "--out", "ds"],
        ["train", "nope", "--out", "run"],
        ["train-dreamer", "nope", "--out", "d.pt"],
        ["project", "nope.png", "random:0", "--out", "w.npy"],
        ["bench", "--quick", "--checkpoint", "nope.pt"],
        ["dream", "--list-layers", "nope.pt"],
    ]
    with runner.isolated_filesystem(temp_dir=tmp_path):
        for args in cases:
            result = runner.invoke(cli, args)
            assert result.exit_code in (1, 2) and isinstance(result.exception, SystemExit), (args, result.output)
            assert "Error" in result.output and "nope" in result.output, (args, result.output)


def test_play_help_names_the_rig_options():
    result = CliRunner().invoke(cli, ["play", "--help"])
    assert result.exit_code == 0
    assert "--midi PORT" in result.output and "--query-port" in result.output


def test_midi_list_names_the_ports_or_says_why_not():
    result = CliRunner().invoke(cli, ["midi", "--list"])
    if result.exit_code == 0:
        assert result.output.strip()  # port names, or 'no MIDI input ports'
    else:
        assert result.output.strip().count("\n") == 0 and "MIDI" in result.output
