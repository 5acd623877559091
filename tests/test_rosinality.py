"""rosinality stylegan2-pytorch checkpoints: key map, channel multiplier from shapes, same pixels.

The state dicts are built here with rosinality's key names and shapes; the reference forward is
rosinality's maths written out in its own conventions (weight scale inside the modulated conv,
[1, O, I, k, k] weights, conv_transpose + Blur, NoiseInjection, FusedLeakyReLU, ToRGB skip).
"""

from __future__ import annotations

import argparse
import math
import os

import pytest
import torch
import torch.nn.functional as F

from installation.models.checkpoint import CheckpointError, load_discriminator, load_generator
from installation.models.formats import channel_config, foreign_format
from installation.models.rosinality import load_rosinality

from conftest import seeded

CPU = torch.device("cpu")
SQRT2 = math.sqrt(2.0)
KERNEL = torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64  # make_kernel([1,3,3,1])


def ros_channels(size: int, multiplier: int, base: int = 16) -> dict[int, int]:
    """rosinality's channel table scaled down by base/512 (4..32: 512, 64: 256*m, 128: 128*m, ...)."""
    table = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * multiplier, 128: 128 * multiplier,
             256: 64 * multiplier, 512: 32 * multiplier, 1024: 16 * multiplier}
    return {r: c * base // 512 for r, c in table.items() if r <= size}


class Rand:
    def __init__(self, seed):
        self.g = torch.Generator().manual_seed(seed)

    def __call__(self, *shape, scale=1.0, shift=0.0):
        return torch.randn(list(shape), generator=self.g) * scale + shift


def ros_generator_state(size=32, style_dim=8, n_mlp=2, multiplier=2, seed=0) -> dict:
    r = Rand(seed)
    ch = ros_channels(size, multiplier)
    sd = {}
    for i in range(1, n_mlp + 1):
        sd[f"style.{i}.weight"] = r(style_dim, style_dim, scale=100.0)  # randn / lr_mul
        sd[f"style.{i}.bias"] = r(style_dim, scale=10.0)

    def styled(p, cin, cout, upsample):
        sd[f"{p}.conv.weight"] = r(1, cout, cin, 3, 3)
        sd[f"{p}.conv.modulation.weight"] = r(cin, style_dim)
        sd[f"{p}.conv.modulation.bias"] = r(cin, scale=0.2, shift=1.0)
        sd[f"{p}.noise.weight"] = r(1, scale=0.3)
        sd[f"{p}.activate.bias"] = r(cout, scale=0.2)
        if upsample:
            sd[f"{p}.conv.blur.kernel"] = KERNEL * 4

    def to_rgb(p, cin, upsample):
        sd[f"{p}.conv.weight"] = r(1, 3, cin, 1, 1)
        sd[f"{p}.conv.modulation.weight"] = r(cin, style_dim)
        sd[f"{p}.conv.modulation.bias"] = r(cin, scale=0.2, shift=1.0)
        sd[f"{p}.bias"] = r(1, 3, 1, 1, scale=0.2)
        if upsample:
            sd[f"{p}.upsample.kernel"] = KERNEL * 4

    sd["input.input"] = r(1, ch[4], 4, 4)
    styled("conv1", ch[4], ch[4], False)
    to_rgb("to_rgb1", ch[4], False)
    log_size = int(math.log2(size))
    for j in range((log_size - 2) * 2 + 1):
        res = 2 ** ((j + 5) // 2)
        sd[f"noises.noise_{j}"] = r(1, 1, res, res)
    cin = ch[4]
    for k, i in enumerate(range(3, log_size + 1)):
        cout = ch[2**i]
        styled(f"convs.{2 * k}", cin, cout, True)
        styled(f"convs.{2 * k + 1}", cout, cout, False)
        to_rgb(f"to_rgbs.{k}", cout, True)
        cin = cout
    return sd


def ros_discriminator_state(size=32, multiplier=2, seed=1) -> dict:
    r = Rand(seed)
    ch = ros_channels(size, multiplier)
    sd = {"convs.0.0.weight": r(ch[size], 3, 1, 1), "convs.0.1.bias": r(ch[size], scale=0.2)}
    cin = ch[size]
    for k, i in enumerate(range(int(math.log2(size)), 2, -1), start=1):
        cout = ch[2 ** (i - 1)]
        sd[f"convs.{k}.conv1.0.weight"] = r(cin, cin, 3, 3)
        sd[f"convs.{k}.conv1.1.bias"] = r(cin, scale=0.2)
        sd[f"convs.{k}.conv2.0.kernel"] = KERNEL.clone()
        sd[f"convs.{k}.conv2.1.weight"] = r(cout, cin, 3, 3)
        sd[f"convs.{k}.conv2.2.bias"] = r(cout, scale=0.2)
        sd[f"convs.{k}.skip.0.kernel"] = KERNEL.clone()
        sd[f"convs.{k}.skip.1.weight"] = r(cout, cin, 1, 1)
        cin = cout
    sd["final_conv.0.weight"] = r(ch[4], cin + 1, 3, 3)
    sd["final_conv.1.bias"] = r(ch[4], scale=0.2)
    sd["final_linear.0.weight"] = r(ch[4], ch[4] * 16)
    sd["final_linear.0.bias"] = r(ch[4], scale=0.2)
    sd["final_linear.1.weight"] = r(1, ch[4])
    sd["final_linear.1.bias"] = r(1, scale=0.2)
    return sd


# --- rosinality's forward, in its own conventions -------------------------------------------


def upfirdn(x, kernel, up=1, down=1, pad=(0, 0)):
    n, c, h, w = x.shape
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    x = F.conv2d(x, torch.flip(kernel, [0, 1]).expand(c, 1, *kernel.shape), groups=c)
    return x[:, :, ::down, ::down]


def equal_linear(sd, p, x, lr=1.0, act=False):
    w = sd[f"{p}.weight"]
    scale = lr / math.sqrt(w.shape[1])
    if act:
        return F.leaky_relu(F.linear(x, w * scale) + sd[f"{p}.bias"] * lr, 0.2) * SQRT2
    return F.linear(x, w * scale, bias=sd[f"{p}.bias"] * lr)


def modulated_conv(sd, p, x, style, demodulate, upsample):
    b, cin, h, w = x.shape
    weight = sd[f"{p}.weight"]  # [1, O, I, k, k]
    cout, k = weight.shape[1], weight.shape[-1]
    s = equal_linear(sd, f"{p}.modulation", style).view(b, 1, cin, 1, 1)
    weight = (1 / math.sqrt(cin * k * k)) * weight * s
    if demodulate:
        weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8).view(b, cout, 1, 1, 1)
    if upsample:
        weight = weight.transpose(1, 2).reshape(b * cin, cout, k, k)
        out = F.conv_transpose2d(x.reshape(1, b * cin, h, w), weight, padding=0, stride=2, groups=b)
        out = out.view(b, cout, *out.shape[2:])
        return upfirdn(out, KERNEL * 4, pad=(1, 1))  # Blur(pad=(1, 1), upsample_factor=2)
    out = F.conv2d(x.reshape(1, b * cin, h, w), weight.view(b * cout, cin, k, k), padding=k // 2, groups=b)
    return out.view(b, cout, h, w)


def ros_generator(sd, z, n_mlp=2):
    x = z * torch.rsqrt(z.pow(2).mean(dim=1, keepdim=True) + 1e-8)  # PixelNorm
    for i in range(1, n_mlp + 1):
        x = equal_linear(sd, f"style.{i}", x, lr=0.01, act=True)
    latent = x  # one style for every layer

    def styled(p, out, noise, upsample):
        out = modulated_conv(sd, f"{p}.conv", out, latent, True, upsample)
        out = out + sd[f"{p}.noise.weight"] * noise
        return F.leaky_relu(out + sd[f"{p}.activate.bias"].view(1, -1, 1, 1), 0.2) * SQRT2

    def to_rgb(p, out, skip):
        out = modulated_conv(sd, f"{p}.conv", out, latent, False, False) + sd[f"{p}.bias"]
        return out if skip is None else out + upfirdn(skip, KERNEL * 4, up=2, pad=(2, 1))

    out = sd["input.input"].repeat(z.shape[0], 1, 1, 1)
    out = styled("conv1", out, sd["noises.noise_0"], False)
    skip = to_rgb("to_rgb1", out, None)
    k = 0
    while f"convs.{2 * k}.conv.weight" in sd:
        out = styled(f"convs.{2 * k}", out, sd[f"noises.noise_{2 * k + 1}"], True)
        out = styled(f"convs.{2 * k + 1}", out, sd[f"noises.noise_{2 * k + 2}"], False)
        skip = to_rgb(f"to_rgbs.{k}", out, skip)
        k += 1
    return skip


def conv_layer(sd, p, x, k, downsample, activate=True):
    if downsample:
        pad = (4 - 2) + (k - 1)
        x = upfirdn(x, KERNEL, pad=((pad + 1) // 2, pad // 2))
        w = sd[f"{p}.1.weight"]
        out = F.conv2d(x, w / math.sqrt(w.shape[1] * k * k), stride=2)
        act_bias = f"{p}.2.bias"
    else:
        w = sd[f"{p}.0.weight"]
        out = F.conv2d(x, w / math.sqrt(w.shape[1] * k * k), padding=k // 2)
        act_bias = f"{p}.1.bias"
    if activate:
        out = F.leaky_relu(out + sd[act_bias].view(1, -1, 1, 1), 0.2) * SQRT2
    return out


def ros_discriminator(sd, img):
    out = conv_layer(sd, "convs.0", img, 1, False)
    k = 1
    while f"convs.{k}.conv1.0.weight" in sd:
        res = conv_layer(sd, f"convs.{k}.conv2", conv_layer(sd, f"convs.{k}.conv1", out, 3, False), 3, True)
        skip = conv_layer(sd, f"convs.{k}.skip", out, 1, True, activate=False)
        out = (res + skip) / SQRT2
        k += 1
    b, c, h, w = out.shape
    group = min(b, 4)
    std = out.view(group, -1, 1, c, h, w)
    std = torch.sqrt(std.var(0, unbiased=False) + 1e-8).mean([2, 3, 4], keepdim=True).squeeze(2)
    out = torch.cat([out, std.repeat(group, 1, h, w)], 1)
    out = conv_layer(sd, "final_conv", out, 3, False).view(b, -1)
    return equal_linear(sd, "final_linear.1", equal_linear(sd, "final_linear.0", out, act=True))


# --- tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("size, multiplier", [(32, 2), (64, 1)])
def test_generator_pixels_match_rosinality(tmp_path, size, multiplier):
    g_ema = ros_generator_state(size=size, multiplier=multiplier)
    latent_avg = seeded(8, seed=3)
    path = tmp_path / "converted.pt"
    torch.save({"g_ema": g_ema, "latent_avg": latent_avg}, path)
    assert foreign_format(path) == "rosinality"

    G = load_generator(path, CPU)
    expected = ros_channels(size, multiplier)
    assert G.img_resolution == size
    assert {r: getattr(G.synthesis, f"b{r}").conv1.weight.shape[0] for r in expected} == expected
    assert torch.equal(G.mapping.w_avg, latent_avg)
    z = seeded(3, 8)
    with torch.no_grad():
        img = G(z, noise_mode="const")
        ref = ros_generator(g_ema, z)
        assert img.shape == ref.shape == (3, 3, size, size)
        assert (img - ref).abs().max().item() < 1e-3
        assert (img - G(z, noise_mode="none")).abs().max().item() > 1e-2  # the stored noise is used


def test_training_checkpoint_with_args_and_discriminator(tmp_path):
    g_ema, d = ros_generator_state(seed=4), ros_discriminator_state()
    path = tmp_path / "020000.pt"
    args = argparse.Namespace(size=32, channel_multiplier=2, latent=8, n_mlp=2)
    torch.save({"g": g_ema, "d": d, "g_ema": g_ema, "g_optim": {}, "d_optim": {}, "args": args,
                "ada_aug_p": 0.2}, path)
    G, D, notes = load_rosinality(path)
    assert any("w_avg estimated" in n for n in notes)
    with torch.no_grad():  # no latent_avg: the mean w of many latents
        z = torch.randn(2048, 8, generator=torch.Generator().manual_seed(1))
        assert (G.mapping.w_avg - G.mapping(z, None)[:, 0].mean(0)).abs().max().item() < 0.1
        img = seeded(4, 3, 32, 32, seed=7)
        assert (D(img) - ros_discriminator(d, img)).abs().max().item() < 1e-3
    assert load_discriminator(path, CPU) is not None


def test_rosinality_channel_table_gives_nvlabs_channel_config():
    for multiplier, base in [(2, 32768), (1, 16384)]:
        assert channel_config(ros_channels(1024, multiplier, base=512), "x") == (base, 512)


def test_unknown_and_missing_keys_are_named(tmp_path):
    sd = ros_generator_state()
    extra = dict(sd, **{"style.1.extra_thing": torch.zeros(1)})
    torch.save({"g_ema": extra}, tmp_path / "extra.pt")
    with pytest.raises(CheckpointError, match=r"extra\.pt.*'style\.1\.extra_thing'"):
        load_generator(tmp_path / "extra.pt", CPU)
    missing = {k: v for k, v in sd.items() if k != "convs.1.noise.weight"}
    torch.save({"g_ema": missing}, tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match=r"missing\.pt.*'convs\.1\.noise\.weight'"):
        load_generator(tmp_path / "missing.pt", CPU)


class _Payload:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def test_malicious_rosinality_file_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": ros_generator_state(), "args": _Payload(f"touch {marker}")}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pt.*system"):
        load_generator(path, CPU)
    assert not marker.exists()
