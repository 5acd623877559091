"""Dreamers: torchvision-keyed ResNets, the discriminator dreamer, loading by spec."""

from __future__ import annotations

import pytest
import torch
from installation.dreamers import (
    DiscriminatorDreamer,
    ResNetDreamer,
    list_layers,
    load_dreamer,
)
from installation.models.resnet import ResNet

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # conftest.py: one intra-op torch thread


# --- torchvision's ResNet, written down as facts (independently of our implementation) ----

# depth -> (bottleneck?, blocks per stage); torchvision/models/resnet.py
TORCHVISION_LAYOUT = {18: (False, [2, 2, 2, 2]), 50: (True, [3, 4, 6, 3])}
BN_KEYS = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _bn(prefix: str, c: int) -> dict[str, tuple]:
    return {f"{prefix}.{k}": (() if k == "num_batches_tracked" else (c,)) for k in BN_KEYS}


def torchvision_shapes(depth: int, num_classes: int = 1000) -> dict[str, tuple]:
    """Every key of torchvision's resnet{depth}().state_dict() with its shape."""
    bottleneck, counts = TORCHVISION_LAYOUT[depth]
    expansion = 4 if bottleneck else 1
    shapes = {"conv1.weight": (64, 3, 7, 7), **_bn("bn1", 64)}
    cin = 64
    for s, count in enumerate(counts):
        planes = 64 * 2**s
        for i in range(count):
            p = f"layer{s + 1}.{i}"
            if bottleneck:
                shapes[f"{p}.conv1.weight"] = (planes, cin, 1, 1)
                shapes[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
                shapes[f"{p}.conv3.weight"] = (planes * 4, planes, 1, 1)
                shapes.update(_bn(f"{p}.bn1", planes) | _bn(f"{p}.bn2", planes) | _bn(f"{p}.bn3", planes * 4))
            else:
                shapes[f"{p}.conv1.weight"] = (planes, cin, 3, 3)
                shapes[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
                shapes.update(_bn(f"{p}.bn1", planes) | _bn(f"{p}.bn2", planes))
            # torchvision adds a projection where the stride or the channel count changes.
            if i == 0 and (s > 0 or cin != planes * expansion):
                shapes[f"{p}.downsample.0.weight"] = (planes * expansion, cin, 1, 1)
                shapes.update(_bn(f"{p}.downsample.1", planes * expansion))
            cin = planes * expansion
    shapes["fc.weight"] = (num_classes, cin)
    shapes["fc.bias"] = (num_classes,)
    return shapes


def torchvision_state_dict(depth: int) -> dict[str, torch.Tensor]:
    """A fake torchvision checkpoint: right keys and shapes, a distinct value per tensor."""
    sd = {}
    for i, (k, shape) in enumerate(torchvision_shapes(depth).items()):
        if k.endswith("num_batches_tracked"):
            sd[k] = torch.tensor(i, dtype=torch.long)
        elif k.endswith("running_var"):
            sd[k] = torch.full(shape, 1.0 + i * 1e-4)
        else:
            sd[k] = torch.full(shape, i * 1e-5)
    return sd


@pytest.mark.parametrize("depth,n_keys", [(18, 122), (50, 320)])
def test_torchvision_state_dict_loads_with_no_missing_or_unexpected_keys(depth, n_keys):
    sd = torchvision_state_dict(depth)
    assert len(sd) == n_keys  # torchvision's own counts: the fact list above is complete
    net = ResNet(depth)
    assert set(net.state_dict()) == set(sd)
    result = net.load_state_dict(sd, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    own = net.state_dict()
    for k in ("layer1.0.conv1.weight", "layer4.0.downsample.1.running_var", "fc.bias"):
        assert torch.equal(own[k], sd[k]), k


def test_resnet_weights_file_loads_as_dreamer(tmp_path):
    path = tmp_path / "resnet18-local.pth"
    torch.save(torchvision_state_dict(18), path)
    d = load_dreamer("resnet18", "cpu", weights=path)
    assert isinstance(d, ResNetDreamer)
    assert torch.equal(d.net.fc.bias, torchvision_state_dict(18)["fc.bias"])
    layers = list_layers(d)
    assert layers[:3] == ["layer1", "layer1.0", "layer1.1"] and "layer3.1" in layers and layers[-1] == "fc"
    acts = d(torch.zeros(1, 3, 64, 48), ["layer1", "layer3.1"])
    assert acts["layer1"].shape == (1, 64, 16, 12) and acts["layer3.1"].shape == (1, 256, 4, 3)


def test_resnet_weights_of_another_depth_is_a_clear_error(tmp_path):
    path = tmp_path / "r18.pth"
    torch.save(torchvision_state_dict(18), path)
    with pytest.raises(ValueError, match=r"r18\.pth.*ResNet-18.*not ResNet-34"):
        load_dreamer("resnet34", "cpu", weights=path)


def test_resnet_feature_walk_stops_at_the_deepest_requested_layer():
    net = ResNet(18, num_classes=3, width=8)
    called = []
    net.layer3.register_forward_hook(lambda *a: called.append("layer3"))
    out = net.features(torch.zeros(1, 3, 32, 32), ["layer2.1"])
    assert list(out) == ["layer2.1"] and called == []
    with pytest.raises(KeyError, match="layer9"):
        net.features(torch.zeros(1, 3, 32, 32), ["layer9"])


def test_dreamer_is_frozen_and_normalises_imagenet():
    d = ResNetDreamer(ResNet(18, num_classes=3, width=8))
    assert not any(p.requires_grad for p in d.parameters()) and not d.training
    d.train()  # a dreamer stays in eval mode: BatchNorm uses its running statistics
    assert not d.net.bn1.training
    seen = {}
    d.net.conv1.register_forward_pre_hook(lambda m, inp: seen.update(x=inp[0]))  # returns None: no change
    d(torch.full((1, 3, 8, 8), 1.0), ["layer1"])  # white in [-1, 1]
    expected = (1 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
    torch.testing.assert_close(seen["x"][0, :, 0, 0], expected)


# --- the discriminator dreamer -------------------------------------------------------------


def _discriminator():
    from installation.models.stylegan2 import Discriminator

    torch.manual_seed(0)
    return Discriminator(c_dim=0, img_resolution=16, img_channels=3, channel_base=64, channel_max=16).eval()


def test_discriminator_dreamer_layers_and_any_size():
    D = _discriminator()
    d = DiscriminatorDreamer(D)
    assert list_layers(d) == ["b16", "b8", "b4"]
    assert d.default_layer in list_layers(d)
    img = torch.rand(1, 3, 16, 16) * 2 - 1
    native = D.features(img)
    torch.testing.assert_close(d(img, ["b8"])["b8"], native["b8"])
    torch.testing.assert_close(d(img, ["b4"])["b4"], native["b4"])
    # Every layer is convolutional, so octaves can dream at other sizes.
    assert d(torch.zeros(1, 3, 24, 20), ["b16"])["b16"].shape[-2:] == (12, 10)
    assert d(torch.zeros(1, 3, 24, 20), ["b4"])["b4"].shape[-2:] == (6, 5)
    assert not any(p.requires_grad for p in D.parameters())
    with pytest.raises(KeyError, match="b32"):
        d(img, ["b32"])


def test_load_dreamer_errors_name_what_was_expected(tmp_path):
    with pytest.raises(ValueError, match="resnet18"):
        load_dreamer("vgg16", "cpu")
    with pytest.raises(ValueError, match="checkpoint"):
        load_dreamer("discriminator", "cpu")
    junk = tmp_path / "junk.pt"
    torch.save({"hello": torch.zeros(1)}, junk)
    with pytest.raises(ValueError, match="junk.pt.*neither a dreamer file"):
        load_dreamer(str(junk), "cpu")


def test_discriminator_dreamer_from_a_checkpoint(tmp_path):
    from installation.models.checkpoint import save_checkpoint
    from installation.models.stylegan2 import Generator

    G = Generator(z_dim=8, c_dim=0, w_dim=8, img_resolution=16, img_channels=3,
                  mapping_kwargs={"num_layers": 1}, synthesis_kwargs={"channel_base": 64, "channel_max": 16})
    D = _discriminator()
    path = tmp_path / "tiny.pt"
    save_checkpoint(path, G_ema=G)
    with pytest.raises(ValueError, match="no discriminator"):
        load_dreamer("discriminator", "cpu", checkpoint=path)
    save_checkpoint(path, G_ema=G, D=D)
    d = load_dreamer("discriminator", "cpu", checkpoint=path)
    assert isinstance(d, DiscriminatorDreamer) and list_layers(d) == ["b16", "b8", "b4"]
    img = torch.rand(1, 3, 16, 16) * 2 - 1
    torch.testing.assert_close(d(img, ["b4"])["b4"], D.features(img)["b4"])
