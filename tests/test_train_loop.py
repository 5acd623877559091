"""StyleGAN2-ADA training loop on a tiny synthetic dataset: learning, exact resume, DDP (torchrun, gloo)."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from installation.models.checkpoint import load_checkpoint
from installation.train.dataset import make_dataset
from installation.train.loop import Trainer, TrainOptions, train

TINY = dict(batch=4, channel_base=128, channel_max=16, map_layers=1, z_dim=8, w_dim=8, mbstd_group=2,
            swd_num=0, threads=1, progress=False, kimg=1000, snap_kimg=1000, tick_kimg=1000)


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py: one intra-op torch thread


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """12 synthetic 16x16 'skies': dark with a few bright dots."""
    root = tmp_path_factory.mktemp("tiny")
    src = root / "src"
    src.mkdir()
    rng = np.random.RandomState(0)
    for i in range(12):
        img = rng.randint(0, 20, (16, 16, 3)).astype(np.uint8)
        for _ in range(3):
            y, x = rng.randint(0, 16, 2)
            img[y, x] = rng.randint(150, 255, 3)
        Image.fromarray(img).save(src / f"{i:02d}.png")
    out = root / "data"
    make_dataset(str(src), 16, out, progress=False)
    return str(out)


def _opts(data, out, **kw):
    return TrainOptions(data=data, out=str(out), **{**TINY, **kw})


def _states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k].cpu(), b[k].cpu()) for k in a)


def test_a_few_steps_change_G_and_move_the_losses(tiny_data, tmp_path):
    tr = Trainer(_opts(tiny_data, tmp_path))
    before = {k: v.clone() for k, v in tr.G.state_dict().items()}
    losses = []
    for _ in range(4):
        tr.step()
        losses.append(tr.take_stats()["loss_D"])
    assert not _states_equal(before, tr.G.state_dict())
    assert len(set(round(l, 6) for l in losses)) > 1  # the losses move
    assert tr.cur_nimg == 16 and tr.batch_idx == 4
    # G_ema follows G but lags it
    assert not _states_equal(tr.G_ema.state_dict(), tr.G.state_dict())


def test_resume_continues_with_identical_state(tiny_data, tmp_path):
    run = tmp_path / "run"
    a = train(_opts(tiny_data, run, aug="ada", ada_kimg=0.01), max_steps=5)  # ADA moves p every 4 steps
    ckpt = load_checkpoint(run / "latest.pt")
    assert ckpt["extra"]["cur_nimg"] == 20 and a.augment.p > 0
    assert (run / "metrics.jsonl").is_file()

    a.step()  # one more step without stopping
    b = Trainer(_opts(tiny_data, run, aug="ada", ada_kimg=0.01, resume=str(run)))
    assert b.cur_nimg == 20 and b.batch_idx == 5 and b.augment.p == ckpt["extra"]["augment"]["p"]
    assert _states_equal(b.G.state_dict(), ckpt["G"]) and _states_equal(b.D.state_dict(), ckpt["D"])
    assert _states_equal(b.G_ema.state_dict(), ckpt["G_ema"])
    b.step()  # ... equals one more step after resuming
    assert b.cur_nimg == a.cur_nimg == 24
    for name in ("G", "D", "G_ema"):
        assert _states_equal(getattr(a, name).state_dict(), getattr(b, name).state_dict()), name
    sa, sb = a.opt_D.state_dict()["state"], b.opt_D.state_dict()["state"]
    assert all(torch.equal(sa[k]["exp_avg_sq"], sb[k]["exp_avg_sq"]) for k in sa)
    assert a.augment.p == b.augment.p


def test_snapshot_writes_checkpoint_grid_metrics_plot(tiny_data, tmp_path):
    run = tmp_path / "run"
    train(_opts(tiny_data, run, kimg=0.016, snap_kimg=0.008, tick_kimg=0.004, swd_num=4))
    names = sorted(p.name for p in run.iterdir())
    assert "latest.pt" in names and "losses.png" in names and "metrics.jsonl" in names
    assert sum(n.startswith("grid-") for n in names) == 2 and sum(n.startswith("snapshot-") for n in names) == 2
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 4 and '"swd"' in lines[-1]
    grid = np.asarray(Image.open(run / sorted(n for n in names if n.startswith("grid-"))[-1]))
    assert grid.shape == (4 * 16, 8 * 16, 3)  # 32 fixed seeds, 8 columns


@pytest.mark.slow
def test_ddp_two_cpu_processes_train_and_write_one_checkpoint(tiny_data, tmp_path):
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "installation", "train", tiny_data, "--out", str(run), "--batch", "4", "--channel-base", "128",
           "--channel-max", "16", "--map-layers", "1", "--z-dim", "8", "--w-dim", "8", "--kimg", "0.012",
           "--snap-kimg", "1000", "--swd-num", "0", "--threads", "1", "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "over 2 process(es)" in res.stdout
    ckpts = sorted(p.name for p in run.glob("*.pt"))
    assert ckpts == ["latest.pt", "snapshot-000000.pt"]
    data = load_checkpoint(run / "latest.pt")
    assert data["extra"]["cur_nimg"] == 12 and len(data["extra"]["rng"]["gens"]) == 2


def test_export_keeps_G_ema_and_D_drops_the_rest(tiny_data, tmp_path):
    from click.testing import CliRunner

    from installation.cli import cli
    from installation.models.checkpoint import load_discriminator, load_generator

    run = tmp_path / "run"
    trainer = train(_opts(tiny_data, run), max_steps=2)
    result = CliRunner().invoke(cli, ["export", str(run / "latest.pt"), str(tmp_path / "ship.pt")])
    assert result.exit_code == 0 and "wrote" in result.output, result.output
    data = load_checkpoint(tmp_path / "ship.pt")
    assert data["G"] is None and "opt_G" not in data["extra"] and data["extra"]["cur_nimg"] == 8
    assert load_discriminator(tmp_path / "ship.pt", "cpu") is not None
    G = load_generator(tmp_path / "ship.pt", "cpu")
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(G(z), trainer.G_ema.eval()(z), rtol=0, atol=2e-2)  # fp16 storage
