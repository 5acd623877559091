"""installation/look.py: the look's figures on synthetic stills and on small videos encoded by real ffmpeg."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from installation.look import colourfulness, mean_luma, measure_video, self_similarity, still_figures

FPS = 10


def write_video(path, frames, fps=FPS):
    """Encode uint8 RGB frames [h, w, 3] with ffmpeg (libx264, yuv420p), as the recorder does."""
    import imageio_ffmpeg

    h, w = frames[0].shape[:2]
    gen = imageio_ffmpeg.write_frames(str(path), (w, h), fps=fps, codec="libx264", pix_fmt_out="yuv420p",
                                      quality=None, output_params=["-crf", "12"], ffmpeg_log_level="error",
                                      macro_block_size=1)
    gen.send(None)
    for f in frames:
        gen.send(np.ascontiguousarray(f))
    gen.close()


def sky(h=96, w=128, seed=0):
    """Sky-like still: smooth coloured clouds plus a few soft stars of random brightness, no symmetry."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    clouds = gaussian_filter(rng.random((h, w, 3)), (6, 6, 0)) * 400 - 150
    stars = np.zeros((h, w))
    ys, xs = rng.integers(0, h, 60), rng.integers(0, w, 60)
    stars[ys, xs] = rng.random(60) * 4000
    stars = gaussian_filter(stars, 1.0)[..., None] * np.array([1.0, 0.9, 0.8])
    return np.clip(40 + clouds + stars, 0, 255).astype(np.uint8)


def test_luma_and_colourfulness_of_flat_colours():
    grey = np.full((8, 8, 3), 100, np.uint8)
    assert mean_luma(grey) == pytest.approx(100.0)
    assert colourfulness(grey) == pytest.approx(0.0)
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 200
    assert mean_luma(red) == pytest.approx(0.2126 * 200)
    # rg = 200, yb = 100: flat, so only the mean term: 0.3 * hypot(200, 100)
    assert colourfulness(red) == pytest.approx(0.3 * np.hypot(200, 100))


def test_mirrored_image_is_self_similar_and_sky_is_not():
    image = sky()
    assert self_similarity(image) < 0.15
    mirrored = np.concatenate([image, image[:, ::-1]], axis=1)  # a kaleidoscope's seam
    assert self_similarity(mirrored) > 0.8
    flipped_ud = np.concatenate([image, image[::-1]], axis=0)
    assert self_similarity(flipped_ud) > 0.8
    tiled = np.tile(image[:48, :64], (2, 3, 1))  # plain repetition, no mirror
    assert self_similarity(tiled) > 0.8


def test_noise_scores_low():
    noise = (np.random.default_rng(1).random((120, 160, 3)) * 255).astype(np.uint8)
    assert self_similarity(noise) < 0.1


def test_static_video_has_no_motion_or_flicker(tmp_path):
    image = sky(64, 96)
    path = tmp_path / "static.mp4"
    write_video(path, [image] * 30)
    report, _ = measure_video(path, skip_seconds=0.5)
    s = report.summary()
    assert s["frames"] == 25
    assert s["motion"] < 0.3
    assert s["flicker"] < 0.05
    assert s["luma"] == pytest.approx(mean_luma(image), abs=3.0)
    assert s["self_similarity"] < 0.2


def test_brightness_ramp_flickers_by_its_step(tmp_path):
    # Mean luma alternating 80, 100: each frame changes the mean by 20 levels.
    frames = [np.full((32, 48, 3), 80 if i % 2 else 100, np.uint8) for i in range(20)]
    path = tmp_path / "ramp.mp4"
    write_video(path, frames)
    report, _ = measure_video(path, skip_seconds=0.0)
    s = report.summary()
    assert s["flicker"] == pytest.approx(20.0, abs=1.5)
    assert s["motion"] == pytest.approx(20.0, abs=1.5)


def test_steady_ramp_flicker(tmp_path):
    frames = [np.full((32, 48, 3), 40 + 3 * i, np.uint8) for i in range(20)]
    path = tmp_path / "ramp.mp4"
    write_video(path, frames)
    report, _ = measure_video(path, skip_seconds=0.0)
    assert report.summary()["flicker"] == pytest.approx(3.0, abs=0.5)


def test_cli_json_and_sheet(tmp_path):
    from installation.cli import cli

    frames = [np.roll(sky(64, 96), 2 * i, axis=1) for i in range(30)]
    path = tmp_path / "moving.mp4"
    write_video(path, frames)
    sheet = tmp_path / "sheet.png"
    result = CliRunner().invoke(cli, ["look", str(path), "--json", "--skip", "1", "--sheet", str(sheet)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["summary"]["frames"] == 20
    assert data["summary"]["motion"] > 1.0  # the picture moves 2 px a frame
    assert len(data["per_frame"]["luma"]) == 20
    with Image.open(sheet) as im:
        assert im.size[0] == 4 * 320 and im.size[1] > 3 * 200


def test_hubble_photograph_figures():
    from installation.train.dataset import DatasetError, hubble_image_path

    try:
        path = hubble_image_path()
    except DatasetError as e:
        pytest.skip(str(e))
    figures = still_figures(np.asarray(Image.open(path).convert("RGB")))
    # The figures for the real Hubble XDF: luma 19.5, colourfulness 15.5, self-similarity ~0.04.
    assert figures["luma"] == pytest.approx(19.5, abs=0.2)
    assert figures["colourfulness"] == pytest.approx(15.5, abs=0.2)
    assert figures["self_similarity"] < 0.08
