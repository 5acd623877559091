"""Sliced Wasserstein distance on Laplacian-pyramid patches (Karras et al. 2018, ProGAN, appendix D).

No downloaded network: each image gives a Laplacian pyramid down to 16 x 16; from every level 128
random 7x7 RGB patches per image are taken as 147-d descriptors; each set's descriptors are
normalised per channel (mean 0, std 1 over the set, as ProGAN does, separately for each set); then
512 random unit directions (4 repeats of 128), both sets projected, sorted, and the mean absolute
difference of the sorted projections is the distance. Reported per level and averaged, x 1e3 as in
the ProGAN paper's tables.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

NHOOD_SIZE = 7
NHOODS_PER_IMAGE = 128
DIR_REPEATS = 4
DIRS_PER_REPEAT = 128
MIN_LEVEL_RES = 16
SCALE = 1e3

_GAUSS_1D = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


def _blur(x: torch.Tensor) -> torch.Tensor:
    """5x5 binomial filter (separable), mirror padding; x [N, C, H, W]."""
    c = x.shape[1]
    k = _GAUSS_1D.to(x.device, x.dtype)
    x = F.pad(x, (2, 2, 2, 2), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, 5).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, k.view(1, 1, 5, 1).repeat(c, 1, 1, 1), groups=c)


def _pyr_down(x: torch.Tensor) -> torch.Tensor:
    return _blur(x)[:, :, ::2, ::2]


def _pyr_up(x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    up = torch.zeros(n, c, h * 2, w * 2, device=x.device, dtype=x.dtype)
    up[:, :, ::2, ::2] = x
    return _blur(up) * 4.0


def level_resolutions(resolution: int) -> list[int]:
    res, levels = resolution, []
    while res >= MIN_LEVEL_RES:
        levels.append(res)
        res //= 2
    if not levels:
        raise ValueError(f"SWD needs images of at least {MIN_LEVEL_RES}x{MIN_LEVEL_RES}, got {resolution}")
    return levels


def laplacian_pyramid(x: torch.Tensor, num_levels: int) -> list[torch.Tensor]:
    """[N, C, H, W] float -> num_levels tensors, band-pass at each resolution, low-pass last."""
    pyramid = [x]
    for _ in range(num_levels - 1):
        down = _pyr_down(pyramid[-1])
        pyramid[-1] = pyramid[-1] - _pyr_up(down)
        pyramid.append(down)
    return pyramid


def _patches(level: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """NHOODS_PER_IMAGE random 7x7 patches per image: [N * 128, C, 7, 7]."""
    n, c, h, w = level.shape
    half = NHOOD_SIZE // 2
    count = n * NHOODS_PER_IMAGE
    ys = torch.randint(half, h - half, (count,), generator=generator)
    xs = torch.randint(half, w - half, (count,), generator=generator)
    img = torch.arange(n).repeat_interleave(NHOODS_PER_IMAGE)
    off = torch.arange(-half, half + 1)
    yy = (ys[:, None] + off[None, :])[:, :, None]  # [count, 7, 1]
    xx = (xs[:, None] + off[None, :])[:, None, :]  # [count, 1, 7]
    flat = level.permute(0, 2, 3, 1)                 # [N, H, W, C]
    patches = flat[img[:, None, None], yy, xx]       # [count, 7, 7, C]
    return patches.permute(0, 3, 1, 2)


def descriptors(images: torch.Tensor, seed: int = 0, batch: int = 256) -> list[torch.Tensor]:
    """uint8 (or float 0..255) images [N, 3, R, R] -> per pyramid level, normalised descriptors [N*128, 147]."""
    resolution = images.shape[-1]
    num_levels = len(level_resolutions(resolution))
    gen = torch.Generator().manual_seed(seed)
    per_level: list[list[torch.Tensor]] = [[] for _ in range(num_levels)]
    for start in range(0, images.shape[0], batch):
        chunk = images[start:start + batch].float().cpu()
        for i, level in enumerate(laplacian_pyramid(chunk, num_levels)):
            per_level[i].append(_patches(level, gen))
    out = []
    for chunks in per_level:
        d = torch.cat(chunks)                               # [M, C, 7, 7]
        d = d - d.mean(dim=(0, 2, 3), keepdim=True)
        d = d / d.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-8)
        out.append(d.reshape(d.shape[0], -1))               # [M, C * 49]
    return out


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, seed: int = 0) -> float:
    """Mean over 512 random directions of the 1-d Wasserstein-1 distance between projections."""
    if a.shape != b.shape:
        raise ValueError(f"SWD needs equally many descriptors: {tuple(a.shape)} vs {tuple(b.shape)}")
    gen = torch.Generator().manual_seed(seed)
    results = []
    for _ in range(DIR_REPEATS):
        dirs = torch.randn(a.shape[1], DIRS_PER_REPEAT, generator=gen)
        dirs = dirs / dirs.norm(dim=0, keepdim=True)
        pa = torch.sort(a @ dirs, dim=0).values
        pb = torch.sort(b @ dirs, dim=0).values
        results.append((pa - pb).abs().mean())
    return float(torch.stack(results).mean())


def swd(images_a: torch.Tensor, images_b: torch.Tensor, seed: int = 0) -> dict:
    """SWD between two equally sized uint8 image sets [N, 3, R, R]: {"levels": {res: x1e3}, "avg": x1e3}."""
    if images_a.shape != images_b.shape:
        raise ValueError(f"SWD needs two sets of the same shape: {tuple(images_a.shape)} vs {tuple(images_b.shape)}")
    resolutions = level_resolutions(images_a.shape[-1])
    # The same patch positions for both sets (common random numbers): identical sets give exactly 0 and
    # the estimate's variance drops; ProGAN drew positions independently, which only adds noise.
    da, db = descriptors(images_a, seed), descriptors(images_b, seed)
    levels = {res: sliced_wasserstein(a, b, seed + 2 + i) * SCALE for i, (res, a, b) in enumerate(zip(resolutions, da, db))}
    return {"levels": levels, "avg": sum(levels.values()) / len(levels)}


@torch.no_grad()
def generate_uint8(G, num: int, device, seed: int = 0, batch: int = 64, noise_mode: str = "random") -> torch.Tensor:
    """num images from G as uint8 [num, 3, R, R] on the CPU (psi 1: the model's own distribution)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, num, batch):
        n = min(batch, num - start)
        z = torch.randn(n, G.z_dim, generator=gen).to(device)
        img = G(z, None, noise_mode=noise_mode)
        out.append((img * 127.5 + 128).clamp(0, 255).to(torch.uint8).cpu())
    return torch.cat(out)


def real_halves(real: torch.Tensor, num: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two disjoint random subsets of the real images, num each (fewer if the dataset is small)."""
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(real.shape[0], generator=gen)
    num = min(num, real.shape[0] // 2)
    if num < 1:
        raise ValueError("SWD needs at least 2 real images")
    return real[perm[:num]], real[perm[num:2 * num]]


def metrics_report(checkpoint: str, data: str, num: int = 2048, device_name: str = "auto", seed: int = 0,
                   progress: bool = False, noise_mode: str = "random") -> dict:
    """The figures for `installation metrics`: SWD of the model (its noise: `noise_mode`), of real vs real
    and of untrained vs real; w_share; colourfulness of generated and of real images."""
    from installation.train.metrics_picture import colourfulness, w_share

    from installation.device import pick_device
    from installation.models.checkpoint import load_checkpoint, load_generator
    from installation.models.stylegan2 import Generator
    from installation.train.dataset import ImageDataset

    device = pick_device(device_name)
    real = ImageDataset(data, progress=progress).images
    real_a, real_b = real_halves(real, num, seed)
    num = real_a.shape[0]
    G = load_generator(checkpoint, device)
    if G.img_resolution != real.shape[-1]:
        raise ValueError(f"{checkpoint}: generator makes {G.img_resolution}px images but {data} holds "
                         f"{real.shape[-1]}px images")
    kwargs = load_checkpoint(checkpoint)["G_kwargs"]
    torch.manual_seed(seed)
    G_untrained = Generator(**kwargs).to(device).eval()
    fake = generate_uint8(G, num, device, seed=seed + 100, noise_mode=noise_mode)
    untrained = generate_uint8(G_untrained, num, device, seed=seed + 100, noise_mode=noise_mode)
    model = swd(fake, real_a, seed)
    rr = swd(real_b, real_a, seed)
    un = swd(untrained, real_a, seed)
    return {"swd": model["avg"], "swd_real_real": rr["avg"], "swd_untrained": un["avg"], "num": num,
            "noise": noise_mode, "w_share": w_share(G, device),
            "colourfulness": colourfulness(fake), "colourfulness_real": colourfulness(real_a),
            "levels": {"swd": model["levels"], "swd_real_real": rr["levels"], "swd_untrained": un["levels"]}}
