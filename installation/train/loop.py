"""The StyleGAN2-ADA training loop: `installation train DATA --res R --out RUN`.

One iteration (minibatch) = phases as in NVlabs: Gmain, Greg (path length, every 4; off by default),
Dmain, Dreg (R1, every 16). Lazy regularisation: the reg phases are weighted by their interval and
Adam's lr/betas are corrected for the extra steps (StyleGAN2 appendix B). G_ema follows G.
ADA augments every D input with probability p, adapted from E[sign(D(real))].

A run folder holds latest.pt (resume point, also written every few minutes and on SIGTERM/SIGINT),
snapshot-KKKKKK.pt (the last few), grid-KKKKKK.png, metrics.jsonl and losses.png.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from installation.train.augment import AdaptiveP, AugmentPipe
from installation.train import distributed as ddp
from installation.train import loss as L
from installation.train import snapshot as snap

G_REG_INTERVAL = 4
D_REG_INTERVAL = 16
ADA_INTERVAL = 4          # minibatches between p updates
EMA_RAMPUP = 0.05         # G_ema half-life <= 5% of images seen so far (fast start)
GRID_SEEDS = list(range(32))
ARCH_FIELDS = ("res", "channel_base", "channel_max", "map_layers", "z_dim", "w_dim")


@dataclass
class TrainOptions:
    data: str
    out: str
    res: int | None = None              # None: the dataset's resolution
    batch: int = 16                     # global batch (split over processes)
    lr: float = 0.0025
    gamma: float | None = None          # R1 weight; None: 0.0002 * res^2 / batch (NVlabs 'auto')
    channel_base: int = 8192
    channel_max: int = 256
    map_layers: int = 2
    z_dim: int = 256
    w_dim: int = 256
    kimg: float = 1000.0
    snap_kimg: float = 10.0
    tick_kimg: float = 1.0              # a metrics.jsonl line every tick
    aug: str = "ada"                    # ada | noaug
    target: float = 0.6
    ada_kimg: float = 500.0             # p can cross 0 -> 1 in this many kimg
    pl_weight: float = 0.0
    style_mix: float = 0.9
    ema_kimg: float | None = None       # None: batch * 10 / 32
    seed: int = 0
    device: str = "auto"
    resume: str | None = None
    swd_num: int = 512                  # images per side for the SWD at each snapshot (0: skip)
    keep_snapshots: int = 3
    save_minutes: float = 10.0
    threads: int | None = None
    amp: bool = True                    # autocast (bf16) on CUDA only
    mbstd_group: int = 4
    progress: bool = True

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _resolve_resume(path: str) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / "latest.pt"
    if not p.is_file():
        raise FileNotFoundError(f"--resume {path}: no checkpoint there (expected RUN/latest.pt or a .pt file)")
    return p


class Trainer:
    """Holds every piece of training state; `step()` runs one minibatch, `save()` writes all of it."""

    def __init__(self, opts: TrainOptions, dist: ddp.DistInfo | None = None, dataset=None):
        from installation.device import pick_device
        from installation.models.checkpoint import load_checkpoint
        from installation.models.stylegan2 import Discriminator, Generator
        from installation.train.dataset import ImageDataset

        self.opts = opts
        self.device = pick_device(opts.device)
        self.dist = dist or ddp.DistInfo()
        if self.device.type == "cuda" and self.dist.enabled:
            self.device = torch.device("cuda", self.dist.local_rank)
            torch.cuda.set_device(self.device)
        if self.device.type == "cpu":
            torch.set_num_threads(opts.threads or max(1, (os.cpu_count() or 1) // self.dist.world_size))

        resume_data = None
        if opts.resume:
            resume_data = load_checkpoint(_resolve_resume(opts.resume))
            saved = resume_data["extra"].get("args", {})
            for name in ARCH_FIELDS:  # the architecture comes from the checkpoint
                if name in saved and saved[name] is not None:
                    setattr(opts, name, saved[name])

        self.dataset = dataset if dataset is not None else ImageDataset(opts.data, progress=self.dist.is_main)
        if opts.res is None:
            opts.res = self.dataset.resolution
        if opts.res != self.dataset.resolution:
            raise ValueError(f"--res {opts.res} but {opts.data} holds {self.dataset.resolution}px images "
                             f"(rebuild it with `installation dataset ... --res {opts.res}`)")
        if opts.batch % self.dist.world_size:
            raise ValueError(f"--batch {opts.batch} must be divisible by the number of processes ({self.dist.world_size})")
        if opts.aug not in ("ada", "noaug"):
            raise ValueError(f"--aug {opts.aug!r}: expected 'ada' or 'noaug'")
        self.batch_gpu = opts.batch // self.dist.world_size
        self.gamma = opts.gamma if opts.gamma is not None else 0.0002 * opts.res ** 2 / opts.batch
        self.ema_kimg = opts.ema_kimg if opts.ema_kimg is not None else opts.batch * 10 / 32

        # Same seed everywhere -> identical initial networks on every rank.
        torch.manual_seed(opts.seed)
        G_kwargs = dict(z_dim=opts.z_dim, c_dim=0, w_dim=opts.w_dim, img_resolution=opts.res, img_channels=3,
                        mapping_kwargs=dict(num_layers=opts.map_layers),
                        synthesis_kwargs=dict(channel_base=opts.channel_base, channel_max=opts.channel_max))
        D_kwargs = dict(c_dim=0, img_resolution=opts.res, img_channels=3, channel_base=opts.channel_base,
                        channel_max=opts.channel_max, mbstd_group_size=min(opts.mbstd_group, self.batch_gpu))
        if resume_data is not None:
            G_kwargs, D_kwargs = resume_data["G_kwargs"], resume_data["D_kwargs"]
        self.G = Generator(**G_kwargs).to(self.device).train()
        self.D = Discriminator(**D_kwargs).to(self.device).train()
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)

        self.augment = AugmentPipe(p=0.0)
        self.ada = AdaptiveP(target=opts.target, speed_kimg=opts.ada_kimg) if opts.aug == "ada" else None

        def make_opt(module, reg_interval):
            ratio = reg_interval / (reg_interval + 1) if reg_interval else 1.0
            return torch.optim.Adam(module.parameters(), lr=opts.lr * ratio, betas=(0.0, 0.99 ** ratio), eps=1e-8)

        self.opt_G = make_opt(self.G, G_REG_INTERVAL if opts.pl_weight > 0 else None)
        self.opt_D = make_opt(self.D, D_REG_INTERVAL)
        self.pl_mean = torch.zeros([], device=self.device)

        self.cur_nimg = 0
        self.batch_idx = 0
        self.train_seconds = 0.0
        self.history: list[dict] = []
        self.gen = torch.Generator().manual_seed(opts.seed * 1000 + self.dist.rank)  # z, data, augment
        self.stats = self._empty_stats()
        if resume_data is not None:
            self._load_state(resume_data)
        else:
            ddp.broadcast_module(self.G, self.dist)
            ddp.broadcast_module(self.D, self.dist)
            self.G_ema.load_state_dict(self.G.state_dict())
        self.autocast = (self.device.type == "cuda" and opts.amp)

    # ------------------------------------------------------------------ state
    def _load_state(self, data: dict) -> None:
        extra = data["extra"]
        self.G.load_state_dict(data["G"])
        self.D.load_state_dict(data["D"])
        self.G_ema.load_state_dict(data["G_ema"])
        self.opt_G.load_state_dict(extra["opt_G"])
        self.opt_D.load_state_dict(extra["opt_D"])
        self.cur_nimg = int(extra["cur_nimg"])
        self.batch_idx = int(extra["batch_idx"])
        self.train_seconds = float(extra.get("train_seconds", 0.0))
        self.history = list(extra.get("history", []))
        self.pl_mean = extra.get("pl_mean", torch.zeros([])).to(self.device)
        aug = extra.get("augment") or {}
        if self.ada is not None and aug.get("ada"):
            self.ada.load_state_dict(aug["ada"])
            # The CLI may change target/speed on resume; p and the counters carry over.
            self.ada.target, self.ada.speed_kimg = self.opts.target, self.opts.ada_kimg
        self.augment.p = float(aug.get("p", 0.0)) if self.ada is not None else 0.0
        rng = extra.get("rng") or {}
        gens = rng.get("gens") or []
        if self.dist.rank < len(gens) and len(gens) == self.dist.world_size:
            self.gen.set_state(gens[self.dist.rank])
        else:  # different process count than the saved run: a fresh, distinct stream per rank
            self.gen.manual_seed(self.opts.seed * 1000 + self.dist.rank + self.cur_nimg)
        if "torch" in rng and self.dist.world_size == 1:
            torch.set_rng_state(rng["torch"])
        if "cuda" in rng and self.device.type == "cuda" and self.dist.world_size == 1:
            torch.cuda.set_rng_state(rng["cuda"], self.device)
        self.stats = {**self._empty_stats(), **(extra.get("stats") or {})}

    def extra_state(self, include_optim: bool = True) -> dict:
        gens = ddp.gather_objects(self.gen.get_state(), self.dist)
        rng = {"gens": gens, "torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        extra = {
            "cur_nimg": self.cur_nimg, "kimg": self.cur_nimg / 1000, "batch_idx": self.batch_idx,
            "train_seconds": self.train_seconds, "history": self.history, "pl_mean": self.pl_mean.detach().cpu(),
            "augment": {"p": self.augment.p, "ada": self.ada.state_dict() if self.ada else None},
            "rng": rng, "args": self.opts.to_dict(), "stats": self.stats,
        }
        if include_optim:
            extra["opt_G"] = self.opt_G.state_dict()
            extra["opt_D"] = self.opt_D.state_dict()
        return extra

    def save(self, path: str | os.PathLike, include_optim: bool = True) -> None:
        """Everything needed to resume (all ranks take part; rank 0 writes)."""
        from installation.models.checkpoint import save_checkpoint

        extra = self.extra_state(include_optim)
        if self.dist.is_main:
            save_checkpoint(path, G_ema=self.G_ema, G=self.G, D=self.D, extra=extra)

    # ------------------------------------------------------------------ one minibatch
    @staticmethod
    def _empty_stats() -> dict:
        return {"loss_G": 0.0, "loss_D": 0.0, "r1": 0.0, "pl": 0.0, "n_G": 0, "n_D": 0, "n_r1": 0, "n_pl": 0,
                "real_score": 0.0, "fake_score": 0.0, "real_sign": 0.0}

    def _z(self) -> torch.Tensor:
        return torch.randn([self.batch_gpu, self.G.z_dim], generator=self.gen).to(self.device)

    def _amp(self):
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.autocast)

    def step(self) -> None:
        opts, g = self.opts, self.gen
        real = self.dataset.sample(self.batch_gpu, g).to(self.device)  # [B, 3, R, R] in [-1, 1]
        aug = self.augment

        # Gmain
        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        self.opt_G.zero_grad(set_to_none=True)
        with self._amp():
            loss_G = L.g_main_loss(self.G, self.D, aug, self._z(), opts.style_mix, g)
        loss_G.backward()
        ddp.all_reduce_gradients(self.G, self.dist)
        self.opt_G.step()
        self.stats["loss_G"] += float(loss_G.detach())
        self.stats["n_G"] += 1

        # Greg: path length (lazy)
        if opts.pl_weight > 0 and self.batch_idx % G_REG_INTERVAL == 0:
            self.opt_G.zero_grad(set_to_none=True)
            pl, self.pl_mean = L.path_length_penalty(self.G, self._z(), self.pl_mean, g)
            (pl * opts.pl_weight * G_REG_INTERVAL).backward()
            ddp.all_reduce_gradients(self.G, self.dist)
            self.opt_G.step()
            self.stats["pl"] += float(pl.detach())
            self.stats["n_pl"] += 1

        # Dmain
        self.G.requires_grad_(False)
        self.D.requires_grad_(True)
        self.opt_D.zero_grad(set_to_none=True)
        with self._amp():
            loss_D, real_logits, fake_logits = L.d_main_loss(self.G, self.D, aug, real, self._z(), opts.style_mix, g)
        loss_D.backward()
        ddp.all_reduce_gradients(self.D, self.dist)
        self.opt_D.step()
        self.stats["loss_D"] += float(loss_D.detach())
        self.stats["n_D"] += 1
        self.stats["real_score"] += float(real_logits.float().mean())
        self.stats["fake_score"] += float(fake_logits.float().mean())
        self.stats["real_sign"] += float(torch.sign(real_logits.float()).mean())
        if self.ada is not None:
            self.ada.accumulate(real_logits)

        # Dreg: R1 (lazy), fp32
        if self.gamma > 0 and self.batch_idx % D_REG_INTERVAL == 0:
            self.opt_D.zero_grad(set_to_none=True)
            r1 = L.r1_penalty(self.D, aug, real, g)
            (r1 * (self.gamma / 2) * D_REG_INTERVAL).backward()
            ddp.all_reduce_gradients(self.D, self.dist)
            self.opt_D.step()
            self.stats["r1"] += float(r1.detach())
            self.stats["n_r1"] += 1
        self.D.requires_grad_(False)

        # G_ema
        ema_nimg = min(self.ema_kimg * 1000, max(self.cur_nimg, 1) * EMA_RAMPUP) if EMA_RAMPUP else self.ema_kimg * 1000
        beta = 0.5 ** (opts.batch / max(ema_nimg, 1e-8))
        with torch.no_grad():
            for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
                p_ema.copy_(p.detach().lerp(p_ema, beta))
            for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
                b_ema.copy_(b)

        self.cur_nimg += opts.batch
        self.batch_idx += 1

        # ADA: adjust p from the sign statistics of all processes
        if self.ada is not None and self.batch_idx % ADA_INTERVAL == 0:
            s, c = ddp.all_reduce_sum([self.ada.sign_sum, float(self.ada.count)], self.device, self.dist)
            self.augment.p = self.ada.update(opts.batch * ADA_INTERVAL, s, int(c))

    def take_stats(self) -> dict:
        s = self.stats
        out = {
            "loss_G": s["loss_G"] / max(s["n_G"], 1), "loss_D": s["loss_D"] / max(s["n_D"], 1),
            "r1": s["r1"] / s["n_r1"] if s["n_r1"] else None, "pl": s["pl"] / s["n_pl"] if s["n_pl"] else None,
            "real_score": s["real_score"] / max(s["n_D"], 1), "fake_score": s["fake_score"] / max(s["n_D"], 1),
            "rt": s["real_sign"] / max(s["n_D"], 1),  # E[sign(D(real))] over the tick (ADA's overfitting signal)
        }
        self.stats = self._empty_stats()
        return out


# ---------------------------------------------------------------------------- the run


class _StopFlag:
    """SIGTERM/SIGINT -> finish the current minibatch, save latest.pt, exit. A second signal kills."""

    def __init__(self):
        self.requested = False
        self._previous = {}

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[sig] = signal.signal(sig, self._handle)
            except ValueError:  # not the main thread (tests): no handlers
                pass

    def _handle(self, signum, frame) -> None:
        if self.requested:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        self.requested = True

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _snapshot_swd(trainer: Trainer, real_ref: dict) -> dict:
    from installation.train import metrics_swd as M

    num = trainer.opts.swd_num
    if num <= 0:
        return {}
    real = trainer.dataset.images
    if "a" not in real_ref:
        a, b = M.real_halves(real, num, seed=123)
        real_ref["a"] = a
        real_ref["rr"] = M.swd(b, a, seed=0)["avg"]
    a = real_ref["a"]
    fake = M.generate_uint8(trainer.G_ema, a.shape[0], trainer.device, seed=456)
    return {"swd": M.swd(fake, a, seed=0)["avg"], "swd_real_real": real_ref["rr"]}


def train(opts: TrainOptions, max_steps: int | None = None) -> Trainer:
    """Run (or continue) training until opts.kimg, a signal, or max_steps minibatches (tests)."""
    from tqdm import tqdm

    from installation.device import pick_device

    dist = ddp.init_distributed(pick_device(opts.device))
    out = Path(opts.out)
    trainer = Trainer(opts, dist)
    is_main = dist.is_main
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "options.json").write_text(json.dumps(opts.to_dict(), indent=1))
        g_params = sum(p.numel() for p in trainer.G.parameters())
        d_params = sum(p.numel() for p in trainer.D.parameters())
        print(f"train: {opts.res}px, G {g_params / 1e6:.2f}M params, D {d_params / 1e6:.2f}M, batch {opts.batch} "
              f"over {dist.world_size} process(es) on {trainer.device}, gamma {trainer.gamma:g}, "
              f"start at {trainer.cur_nimg / 1000:.1f} kimg, p {trainer.augment.p:.3f}", flush=True)
    stop = _StopFlag()
    stop.install()
    grid_z = snap.fixed_latents(GRID_SEEDS, trainer.G.z_dim)
    real_ref: dict = {}
    total_nimg = int(opts.kimg * 1000)
    bar = tqdm(total=round(opts.kimg, 3), initial=round(trainer.cur_nimg / 1000, 3), unit="kimg", disable=not (is_main and opts.progress),
               mininterval=1.0 if sys.stderr.isatty() else 30.0, dynamic_ncols=True,
               bar_format="{l_bar}{bar}| {n:.2f}/{total:g} kimg [{elapsed}<{remaining}{postfix}]")
    tick_start_nimg = trainer.cur_nimg
    tick_start_time = last_save = time.time()
    next_snap = (trainer.cur_nimg // int(opts.snap_kimg * 1000) + 1) * int(opts.snap_kimg * 1000)
    next_tick = trainer.cur_nimg + int(opts.tick_kimg * 1000)
    steps = 0
    try:
        while trainer.cur_nimg < total_nimg:
            t0 = time.time()
            trainer.step()
            steps += 1
            trainer.train_seconds += time.time() - t0
            bar.update(opts.batch / 1000)
            stopping = stop.requested or (max_steps is not None and steps >= max_steps)
            if dist.enabled:  # every rank must agree to stop, or the collectives would hang
                stopping = ddp.all_reduce_sum([float(stopping)], trainer.device, dist)[0] > 0
            done = trainer.cur_nimg >= total_nimg

            if trainer.cur_nimg >= next_tick or stopping or done:
                now = time.time()
                sec_per_kimg = (now - tick_start_time) / max((trainer.cur_nimg - tick_start_nimg) / 1000, 1e-9)
                rec = {"kimg": trainer.cur_nimg / 1000, **trainer.take_stats(), "p": trainer.augment.p,
                       "sec_per_kimg": sec_per_kimg,
                       "train_hours": trainer.train_seconds / 3600}
                snapshot_now = trainer.cur_nimg >= next_snap or done
                if snapshot_now and is_main:  # only rank 0 writes, so only rank 0 measures
                    rec.update(_snapshot_swd(trainer, real_ref))
                if is_main:
                    snap.append_metrics(out / "metrics.jsonl", rec)
                    bar.set_postfix_str(f"{sec_per_kimg:.0f} s/kimg, p {trainer.augment.p:.3f}, "
                                        f"G {rec['loss_G']:.3f} D {rec['loss_D']:.3f}"
                                        + (f", swd {rec['swd']:.1f}" if rec.get("swd") is not None else ""))
                    bar.write(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in rec.items()}))
                if snapshot_now:
                    # kimg in the name; runs that snapshot more often than every kimg (tests) use images
                    kimg_tag = (f"{trainer.cur_nimg // 1000:06d}" if opts.snap_kimg >= 1
                                else f"n{trainer.cur_nimg:09d}")
                    if "swd" in rec:
                        trainer.history.append({"kimg": rec["kimg"], "swd": rec["swd"],
                                                "swd_real_real": rec["swd_real_real"]})
                    trainer.save(out / f"snapshot-{kimg_tag}.pt")
                    if is_main:
                        snap.save_sample_grid(trainer.G_ema, grid_z, out / f"grid-{kimg_tag}.png", cols=8)
                        snap.prune_snapshots(out, opts.keep_snapshots)
                        snap.plot_losses(out / "metrics.jsonl", out / "losses.png")
                    next_snap += int(opts.snap_kimg * 1000)
                    while next_snap <= trainer.cur_nimg:
                        next_snap += int(opts.snap_kimg * 1000)
                tick_start_nimg, tick_start_time = trainer.cur_nimg, time.time()
                next_tick = trainer.cur_nimg + int(opts.tick_kimg * 1000)

            timed_save = (time.time() - last_save) > opts.save_minutes * 60
            if dist.enabled:
                timed_save = ddp.all_reduce_sum([float(timed_save)], trainer.device, dist)[0] > 0
            if stopping or done or timed_save:
                trainer.save(out / "latest.pt")
                last_save = time.time()
            if stopping:
                if is_main and stop.requested:
                    bar.write(f"stopped by signal at {trainer.cur_nimg / 1000:.2f} kimg; saved {out / 'latest.pt'}")
                break
    finally:
        bar.close()
        stop.restore()
        ddp.shutdown(dist)
    return trainer
