"""`render --audio`: the video follows the track frame-exactly and carries it."""

import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
from _audio_files import write_wav
from _tiny_show import write_show
from click.testing import CliRunner

from installation.cli import cli
from installation.record import read_video

SR = 22050


def audio_seconds(path: Path) -> float:
    """Duration of the audio stream, from ffmpeg's own report on the audio-only decode."""
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-i", str(path), "-vn", "-f", "s16le", "-ac", "1", "-ar", str(SR), "-"]
    raw = subprocess.run(cmd, capture_output=True, check=True).stdout
    return len(raw) / 2 / SR


MAPPING = """
[[mappings]]
source = "audio.rms"
target = "grade.exposure"
range = [-3.0, 1.0]
smoothing = 0.0
"""


def render(tmp_path: Path, name: str, track: Path) -> np.ndarray:
    show = write_show(tmp_path, show_extra="", extra='[audio]\nsamplerate = 22050\n' + MAPPING)
    out = tmp_path / f"{name}.mp4"
    result = CliRunner().invoke(cli, ["render", str(show), "--seconds", "2", "--audio", str(track), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert abs(audio_seconds(out) - 2.0) < 0.1
    frames, fps = read_video(out)
    assert frames.shape[0] == 20 and fps == 10
    return frames


def test_audio_render_muxes_track_and_follows_loudness(tmp_path):
    t = np.arange(2 * SR) / SR
    # Loud in the second half only: rms -> exposure makes those frames brighter.
    loud = np.where(t >= 1.0, 0.8 * np.sin(2 * np.pi * 220 * t), 0.0)
    silent = np.zeros_like(t)
    frames_loud = render(tmp_path, "loud", write_wav(tmp_path / "loud.wav", loud, SR))
    frames_silent = render(tmp_path, "silent", write_wav(tmp_path / "silent.wav", silent, SR))
    brightness_loud = frames_loud.reshape(20, -1).mean(axis=1)
    brightness_silent = frames_silent.reshape(20, -1).mean(axis=1)
    # First half: both silent, so the renders agree (up to H.264 noise).
    assert np.abs(brightness_loud[2:9] - brightness_silent[2:9]).max() < 3.0
    # Second half: the loud track lifts exposure.
    assert (brightness_loud[13:] - brightness_silent[13:]).min() > 10.0
