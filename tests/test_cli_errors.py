"""One clear line, never a traceback, for bad input to the commands (issue #15 items 8-11, 16).

Each case names the file or key and what was expected, and fails before any work is done.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from installation.cli import cli
from installation.config import ShowConfigError, load_show
from installation.models.checkpoint import save_checkpoint
from installation.models.stylegan2 import Generator

REPO = Path(__file__).resolve().parents[1]  # subprocesses run this checkout's package


def _run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output  # no traceback
    return result


def _one_line_error(result, *named):
    assert result.exit_code != 0, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.output
    for n in named:
        assert n in lines[0], result.output


# --- dream (items 9, 10) ---------------------------------------------------------------------


def test_dream_refuses_a_huge_image_before_dreaming(tmp_path, tiny_checkpoint):
    big = tmp_path / "big.png"
    Image.new("RGB", (3000, 3000)).save(big)  # 9 megapixels: over the dream limit
    out = tmp_path / "o.png"
    result = _run("dream", big, "--checkpoint", tiny_checkpoint, "--octaves", 1, "--iterations", 0, "--out", out)
    _one_line_error(result, "big.png", "3000x3000", "--size")
    assert not out.exists()


def test_dream_with_size_shrinks_a_huge_image(tmp_path, tiny_checkpoint):
    big = tmp_path / "big.png"
    Image.new("RGB", (3000, 3000)).save(big)
    out = tmp_path / "o.png"
    result = _run("dream", big, "--checkpoint", tiny_checkpoint, "--size", 32, "--octaves", 1, "--iterations", 0,
                  "--out", out)
    assert result.exit_code == 0, result.output
    assert Image.open(out).size == (32, 32)


def test_dream_unknown_output_extension_fails_before_dreaming(tmp_path, tiny_checkpoint, monkeypatch):
    import installation.dream as dream_module

    small = tmp_path / "small.png"
    Image.new("RGB", (16, 16)).save(small)
    ran = []
    monkeypatch.setattr(dream_module, "dream_image", lambda *a, **k: ran.append(1))
    result = _run("dream", small, "--checkpoint", tiny_checkpoint, "--out", tmp_path / "o.xyz")
    _one_line_error(result, "o.xyz", ".png")
    assert not ran


def test_dream_out_folder_that_cannot_be_made_fails_before_dreaming(tmp_path, tiny_checkpoint, monkeypatch):
    import installation.dream as dream_module

    small = tmp_path / "small.png"
    Image.new("RGB", (16, 16)).save(small)
    (tmp_path / "afile").write_text("x")
    ran = []
    monkeypatch.setattr(dream_module, "dream_image", lambda *a, **k: ran.append(1))
    result = _run("dream", small, "--checkpoint", tiny_checkpoint, "--out", tmp_path / "afile" / "o.png")
    _one_line_error(result, "o.png", "cannot create its folder")
    assert not ran


# --- render, dataset (item 10) ---------------------------------------------------------------


def test_render_out_under_a_file_is_one_line(tmp_path):
    show = tmp_path / "s.toml"
    show.write_text('[model]\ncheckpoint = "random:0:16"\n[osc]\nenabled = false\n')
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    result = _run("render", show, "--seconds", 0.1, "--out", blocker / "sub" / "o.mp4")
    _one_line_error(result, "o.mp4", "cannot create its folder")


def test_render_out_into_a_new_folder_works(tmp_path):
    show = tmp_path / "s.toml"
    show.write_text('[show]\nwidth = 32\nheight = 24\nfps = 10\n[model]\ncheckpoint = "random:0:16"\n'
                    '[osc]\nenabled = false\n')
    out = tmp_path / "new" / "deeper" / "o.mp4"
    result = _run("render", show, "--seconds", 0.2, "--out", out)
    assert result.exit_code == 0, result.output
    assert out.is_file()


def test_dataset_res_too_large_is_one_line(tmp_path):
    src = tmp_path / "imgs"
    src.mkdir()
    Image.new("RGB", (8, 8)).save(src / "a.png")
    result = _run("dataset", src, "--res", 65536, "--out", tmp_path / "ds")
    _one_line_error(result, "--res 65536", "2048")


# --- show files (items 10, 11, 16) -----------------------------------------------------------


def test_show_file_not_utf8_names_the_file_and_offset(tmp_path):
    show = tmp_path / "latin1.toml"
    show.write_bytes('[show]\nname = "caf\u00e9"\n'.encode("latin-1"))
    with pytest.raises(ShowConfigError, match=r"latin1.toml: not UTF-8 text \(byte 0xe9 at offset 18\)"):
        load_show(show)
    _one_line_error(_run("render", show, "--out", tmp_path / "o.mp4"), "latin1.toml", "UTF-8")


def test_deeply_nested_arrays_are_one_line(tmp_path):
    show = tmp_path / "deep.toml"
    show.write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ShowConfigError, match="deep.toml: .*nested too deeply"):
        load_show(show)
    with pytest.raises(ShowConfigError, match="nested too deeply"):
        load_show(tmp_path / "deep.toml", ["latent.seeds=" + "[" * 100_000 + "]" * 100_000])


def test_huge_show_file_is_refused_before_parsing(tmp_path):
    show = tmp_path / "huge.toml"
    show.write_text("[latent]\nseeds = [" + ", ".join(str(i) for i in range(1_400_000)) + "]\n")  # ~10 MB
    with pytest.raises(ShowConfigError, match="huge.toml: the show file is larger than 1024 KB"):
        load_show(show)


@pytest.mark.parametrize("key, body", [
    ("latent.seeds", "[latent]\nseeds = [{n}]"),
    ("mappings", "{n_mappings}"),
])
def test_lists_in_a_show_file_are_bounded(tmp_path, key, body):
    seeds = ", ".join(["1"] * 5000)
    mapping = '[[mappings]]\nsource = "audio.rms"\ntarget = "warp.swirl"\n'
    show = tmp_path / "long.toml"
    show.write_text(body.format(n=seeds, n_mappings=mapping * 1100))
    with pytest.raises(ShowConfigError, match=rf"long.toml: invalid show file\n  key '{key}': .*at most"):
        load_show(show)


@pytest.mark.parametrize("text, key", [
    ("[latent]\nseeds = [1, 4294967296]", "latent.seeds.1"),
    ("[latent]\nseeds = [-1]", "latent.seeds.0"),
    ("[show]\nseed = 4294967296", "show.seed"),
    ('[scenes.a]\nseeds = [99999999999]', "scenes.a.seeds.0"),
])
def test_seeds_outside_32_bits_name_the_key(tmp_path, text, key):
    show = tmp_path / "seeds.toml"
    show.write_text(text + "\n")
    with pytest.raises(ShowConfigError, match=rf"seeds.toml: invalid show file\n  key '{key}'"):
        load_show(show)


def test_largest_seed_plays(tmp_path):
    show = tmp_path / "s.toml"
    show.write_text('[show]\nwidth = 32\nheight = 24\nfps = 10\nseed = 4294967295\n[model]\ncheckpoint = "random:0:16"\n'
                    '[latent]\nseeds = [0, 4294967295]\n[osc]\nenabled = false\n')
    result = _run("render", show, "--seconds", 0.2, "--out", tmp_path / "o.mp4")
    assert result.exit_code == 0, result.output


# --- a model that draws NaN (item 8) ---------------------------------------------------------


def test_render_with_a_model_that_draws_nan_fails_before_the_first_frame(tmp_path):
    torch.manual_seed(0)
    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3,
                  mapping_kwargs={"num_layers": 1}, synthesis_kwargs={"channel_base": 64, "channel_max": 4})
    with torch.no_grad():
        G.synthesis.b4.conv1.weight.fill_(3e38)  # finite weights that overflow to Inf, then NaN
    save_checkpoint(tmp_path / "nan.pt", G_ema=G)
    show = tmp_path / "s.toml"
    show.write_text('[show]\nwidth = 32\nheight = 24\nfps = 10\n[model]\ncheckpoint = "nan.pt"\n[osc]\nenabled = false\n')
    out = tmp_path / "o.mp4"
    result = _run("render", show, "--seconds", 1, "--out", out)
    _one_line_error(result, "nan.pt", "non-finite")
    assert not out.exists()


# --- signals during set-up (item 11) ---------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_during_setup_stops_it(tmp_path, sig):
    # The checkpoint is a FIFO: set-up blocks reading it until the signal comes. Opening the FIFO for
    # writing returns exactly when the show has opened it, so the signal lands inside set-up.
    fifo = tmp_path / "model.pt"
    os.mkfifo(fifo)
    show = tmp_path / "s.toml"
    show.write_text('[model]\ncheckpoint = "model.pt"\n[osc]\nenabled = false\n')
    out = tmp_path / "o.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "installation", "render", str(show), "--out", str(out)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with open(fifo, "wb"):  # blocks until the show opens the model file
            proc.send_signal(sig)
            _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, stderr[-3000:]
    assert "during set-up" in stderr and "Traceback" not in stderr
    assert not out.exists() and not (tmp_path / f".{out.name}.partial").exists()
