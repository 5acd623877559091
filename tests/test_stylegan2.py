"""StyleGAN2 networks: shapes, NVlabs key names, truncation, noise modes, ops against references."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from installation.models.ops import (
    conv2d_resample,
    downsample2d,
    modulated_conv2d,
    setup_filter,
    upsample2d,
)
from installation.models.stylegan2 import Discriminator, Generator

TINY_SYNTHESIS = dict(channel_base=512, channel_max=32)


def tiny_generator(resolution=16, seed=0, noise_strength=0.5, **kwargs) -> Generator:
    torch.manual_seed(seed)
    G = Generator(z_dim=32, c_dim=0, w_dim=32, img_resolution=resolution, img_channels=3,
                  mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(TINY_SYNTHESIS, **kwargs))
    # Fresh NVlabs init has zero noise strength and w_avg = 0; make both matter in the tests.
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(noise_strength)
        G.mapping.w_avg.normal_()
    return G.eval()


def tiny_discriminator(resolution=16) -> Discriminator:
    torch.manual_seed(1)
    return Discriminator(c_dim=0, img_resolution=resolution, img_channels=3, **TINY_SYNTHESIS)


@pytest.mark.parametrize("resolution", [16, 32])
def test_generator_and_discriminator_shapes(resolution):
    G = tiny_generator(resolution)
    z = torch.randn(2, G.z_dim)
    with torch.no_grad():
        img = G(z)
    assert img.shape == (2, 3, resolution, resolution)
    assert img.dtype == torch.float32 and torch.isfinite(img).all()
    # 2 ws per block (conv0/conv1 share with the previous torgb) + the 4x4 conv and last torgb.
    assert G.num_ws == 2 * (resolution.bit_length() - 2)
    D = tiny_discriminator(resolution)
    logits = D(img)
    assert logits.shape == (2, 1)
    feats = D.features(img)
    assert list(feats) == [f"b{r}" for r in D.block_resolutions] + ["b4"]
    for res in D.block_resolutions:
        assert feats[f"b{res}"].shape[-1] == res // 2
    assert feats["b4"].shape[-2:] == (4, 4)


def test_init_kwargs_rebuild_the_same_architecture():
    G = tiny_generator(16)
    G2 = Generator(**G.init_kwargs)
    assert G2.state_dict().keys() == G.state_dict().keys()
    D = tiny_discriminator(16)
    assert Discriminator(**D.init_kwargs).state_dict().keys() == D.state_dict().keys()


def test_state_dict_keys_follow_nvlabs_names():
    G = tiny_generator(16)
    keys = set(G.state_dict())
    for key in ["mapping.fc0.weight", "mapping.fc0.bias", "mapping.fc1.weight", "mapping.w_avg",
                "synthesis.b4.const", "synthesis.b4.conv1.weight", "synthesis.b4.torgb.weight",
                "synthesis.b8.conv0.affine.weight", "synthesis.b8.conv0.affine.bias",
                "synthesis.b8.conv0.weight", "synthesis.b8.conv0.bias", "synthesis.b8.conv0.noise_strength",
                "synthesis.b8.conv0.noise_const", "synthesis.b8.conv0.resample_filter",
                "synthesis.b8.conv1.weight", "synthesis.b8.torgb.weight", "synthesis.b8.torgb.affine.weight",
                "synthesis.b8.resample_filter", "synthesis.b16.torgb.bias"]:
        assert key in keys, key
    assert "synthesis.b4.conv0.weight" not in keys
    assert G.state_dict()["synthesis.b8.conv0.noise_const"].shape == (8, 8)
    assert G.state_dict()["synthesis.b8.resample_filter"].shape == (4, 4)
    D = tiny_discriminator(16)
    dkeys = set(D.state_dict())
    for key in ["b16.fromrgb.weight", "b16.conv0.weight", "b16.conv1.weight", "b16.skip.weight",
                "b8.conv0.weight", "b8.skip.weight", "b4.conv.weight", "b4.fc.weight", "b4.out.weight",
                "b4.out.bias"]:
        assert key in dkeys, key
    assert "b8.fromrgb.weight" not in dkeys  # only the top block reads the image
    assert "b8.skip.bias" not in dkeys


def test_same_z_and_const_noise_give_identical_images():
    G = tiny_generator(16)
    z = torch.randn(2, G.z_dim)
    with torch.no_grad():
        a = G(z, noise_mode="const")
        torch.randn(100)  # disturbing the global RNG must not matter
        b = G(z, noise_mode="const")
    assert torch.equal(a, b)


def test_noise_modes():
    G = tiny_generator(16)
    z = torch.randn(1, G.z_dim)
    with torch.no_grad():
        r1, r2 = G(z, noise_mode="random"), G(z, noise_mode="random")
        c1, c2 = G(z, noise_mode="const"), G(z, noise_mode="const")
        n1, n2 = G(z, noise_mode="none"), G(z, noise_mode="none")
    assert not torch.allclose(r1, r2)
    assert torch.equal(c1, c2) and torch.equal(n1, n2)
    assert not torch.allclose(c1, n1)  # noise_strength 0.5: const noise is visible
    with pytest.raises(ValueError, match="noise_mode"):
        G(z, noise_mode="loud")


def test_psi_zero_gives_the_w_avg_image():
    G = tiny_generator(16)
    z = torch.randn(3, G.z_dim)
    with torch.no_grad():
        img = G(z, truncation_psi=0)
        ws_avg = G.mapping.w_avg.reshape(1, 1, -1).repeat(3, G.num_ws, 1)  # [3, num_ws, w_dim]
        expected = G.synthesis(ws_avg)
    torch.testing.assert_close(img, expected, rtol=0, atol=1e-6)
    assert torch.allclose(img[0], img[2], atol=1e-6)  # every z lands on the same image


def test_truncation_cutoff_only_affects_the_first_layers():
    G = tiny_generator(16)
    z = torch.randn(2, G.z_dim)
    with torch.no_grad():
        full = G.mapping(z, None)
        cut = G.mapping(z, None, truncation_psi=0.5, truncation_cutoff=3)
    torch.testing.assert_close(cut[:, 3:], full[:, 3:], rtol=0, atol=0)
    expected = G.mapping.w_avg + 0.5 * (full[:, :3] - G.mapping.w_avg)
    torch.testing.assert_close(cut[:, :3], expected, rtol=1e-6, atol=1e-6)


def test_w_avg_moves_only_with_update_emas():
    G = tiny_generator(16).train()
    before = G.mapping.w_avg.clone()
    G.mapping(torch.randn(4, G.z_dim), None)
    assert torch.equal(G.mapping.w_avg, before)
    ws = G.mapping(torch.randn(4, G.z_dim), None, update_emas=True)
    expected = ws[:, 0].detach().mean(0).lerp(before, G.mapping.w_avg_beta)
    torch.testing.assert_close(G.mapping.w_avg, expected)


def test_fir_upsample_of_a_constant_stays_constant_inside():
    f = setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4) and abs(f.sum().item() - 1) < 1e-6
    x = torch.full([1, 2, 8, 8], 0.75)
    up = upsample2d(x, f)
    assert up.shape == (1, 2, 16, 16)
    torch.testing.assert_close(up[..., 2:-2, 2:-2], torch.full_like(up[..., 2:-2, 2:-2], 0.75))
    down = downsample2d(x, f)
    assert down.shape == (1, 2, 4, 4)
    torch.testing.assert_close(down[..., 1:-1, 1:-1], torch.full_like(down[..., 1:-1, 1:-1], 0.75))


def test_upsampling_conv_equals_zero_insert_blur_conv():
    """Transposed-conv fast path == the definition: insert zeros, FIR blur (gain 4), 3x3 conv."""
    torch.manual_seed(0)
    f = setup_filter([1, 3, 3, 1])
    x = torch.randn(2, 4, 6, 6)
    w = torch.randn(5, 4, 3, 3)
    fast = conv2d_resample(x, w, f=f, up=2, padding=1, flip_weight=False)
    # Definition (NVlabs generic path): zero-insert, pad by filter + conv padding (3 before,
    # 2 after), blur with gain 4, then an unpadded true (flipped) 3x3 convolution.
    z = torch.zeros(2, 4, 12, 12)
    z[..., ::2, ::2] = x
    blur = (f * 4).flip([0, 1])[None, None].repeat(4, 1, 1, 1)
    z = F.conv2d(F.pad(z, [3, 2, 3, 2]), blur, groups=4)
    ref = F.conv2d(z, w.flip([2, 3]))
    assert fast.shape == (2, 5, 12, 12)
    torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-5)


def _modconv_per_sample_reference(x, weight, styles, demodulate, up=1):
    """Independent reference: one conv per sample with its own modulated (demodulated) weight."""
    outs = []
    f = setup_filter([1, 3, 3, 1])
    for i in range(x.shape[0]):
        w = weight * styles[i].reshape(1, -1, 1, 1)  # [O, I, k, k]
        if demodulate:
            w = w / torch.sqrt(w.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8)
        xi = x[i : i + 1]
        if up == 1:
            outs.append(F.conv2d(xi, w, padding=weight.shape[-1] // 2))
        else:
            outs.append(conv2d_resample(xi, w, f=f, up=2, padding=1, flip_weight=False))
    return torch.cat(outs)


@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("up", [1, 2])
def test_modulated_conv_matches_per_sample_reference(demodulate, fused, up):
    torch.manual_seed(0)
    x = torch.randn(3, 6, 8, 8)
    weight = torch.randn(5, 6, 3, 3)
    styles = torch.randn(3, 6) + 1
    f = setup_filter([1, 3, 3, 1])
    out = modulated_conv2d(x, weight, styles, up=up, padding=1, resample_filter=f, demodulate=demodulate,
                           flip_weight=(up == 1), fused_modconv=fused)
    ref = _modconv_per_sample_reference(x, weight, styles, demodulate, up=up)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_fused_and_unfused_generator_paths_agree():
    G = tiny_generator(16)
    z = torch.randn(3, G.z_dim)
    with torch.no_grad():
        fused = G(z, fused_modconv=True)
        unfused = G(z, fused_modconv=False)
    torch.testing.assert_close(fused, unfused, rtol=1e-4, atol=1e-4)


def test_conv_clamp_limits_activations():
    G = tiny_generator(16, conv_clamp=0.05)
    with torch.no_grad():
        img = G(torch.randn(2, G.z_dim))
    # The last toRGB is clamped and the upsampled skip image is bounded by the earlier clamps.
    assert img.abs().max() <= 0.05 * 4 + 1e-5


def test_gradients_flow_to_generator_and_discriminator():
    G = tiny_generator(16).train()
    D = tiny_discriminator(16)
    img = G(torch.randn(2, G.z_dim), noise_mode="random")
    loss = torch.nn.functional.softplus(-D(img)).mean()
    loss.backward()
    for name, p in list(G.named_parameters()) + list(D.named_parameters()):
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    assert G.mapping.fc0.weight.grad.abs().sum() > 0
    assert G.synthesis.b4.const.grad.abs().sum() > 0
    assert G.synthesis.b16.conv1.weight.grad.abs().sum() > 0


def test_minibatch_std_handles_batches_not_divisible_by_the_group():
    D = tiny_discriminator(16)
    with torch.no_grad():
        assert D(torch.randn(6, 3, 16, 16)).shape == (6, 1)
        assert D(torch.randn(1, 3, 16, 16)).shape == (1, 1)


def test_bad_shapes_are_clear_errors():
    G = tiny_generator(16)
    with pytest.raises(ValueError, match="z must be"):
        G(torch.randn(1, 7))
    with pytest.raises(ValueError, match="ws must be"):
        G.synthesis(torch.randn(1, 3, G.w_dim))
    D = tiny_discriminator(16)
    with pytest.raises(ValueError, match="discriminator input"):
        D(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match="power of two"):
        Generator(8, 0, 8, 24, 3)


def test_fp16_blocks_run_in_fp32_on_cpu():
    """num_fp16_res only changes the dtype on CUDA; on CPU the output is the fp32 network's."""
    G16 = tiny_generator(16, num_fp16_res=2)
    G32 = Generator(**dict(G16.init_kwargs, synthesis_kwargs=dict(TINY_SYNTHESIS))).eval()
    G32.load_state_dict(G16.state_dict())
    z = torch.randn(2, G16.z_dim)
    with torch.no_grad():
        torch.testing.assert_close(G16(z), G32(z), rtol=0, atol=0)
    D16 = Discriminator(c_dim=0, img_resolution=16, img_channels=3, num_fp16_res=2, **TINY_SYNTHESIS)
    assert D16(torch.randn(2, 3, 16, 16)).dtype == torch.float32
