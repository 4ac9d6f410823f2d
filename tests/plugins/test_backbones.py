"""The shared backbones compute what their reference formulas say, under the official parameter names."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from lswap_plugins.backbones.iresnet import IResNet
from lswap_plugins.backbones.irse import IRSEBackbone, stage_blocks
from lswap_plugins.backbones.resnet import ResNet, count_blocks


def randomise(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights everywhere, batch-norm statistics included, in eval mode."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            elif tensor.is_floating_point():
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.3)
    return module.eval()


def bn(x, state, prefix, eps=1e-5):
    return F.batch_norm(x, state[f"{prefix}.running_mean"], state[f"{prefix}.running_var"],
                        state[f"{prefix}.weight"], state[f"{prefix}.bias"], eps=eps)


def test_resnet50_has_torchvisions_parameter_count():
    assert sum(p.numel() for p in ResNet(num_classes=1000).parameters()) == 25_557_032  # torchvision resnet50
    assert len(ResNet(num_classes=1000).state_dict()) == 320


def test_resnet_matches_the_bottleneck_formula():
    """He et al. (2016), v1.5: y = relu(bn3(conv3(relu(bn2(conv2_s(relu(bn1(conv1 x)))))) + shortcut(x))."""
    net = randomise(ResNet(layers=(1, 2, 1, 1), width=4, num_classes=5))
    state = net.state_dict()
    x = torch.randn(2, 3, 64, 64)

    def block(x, prefix, stride):
        out = F.relu(bn(F.conv2d(x, state[f"{prefix}.conv1.weight"]), state, f"{prefix}.bn1"))
        out = F.relu(bn(F.conv2d(out, state[f"{prefix}.conv2.weight"], stride=stride, padding=1), state, f"{prefix}.bn2"))
        out = bn(F.conv2d(out, state[f"{prefix}.conv3.weight"]), state, f"{prefix}.bn3")
        if f"{prefix}.downsample.0.weight" in state:
            x = bn(F.conv2d(x, state[f"{prefix}.downsample.0.weight"], stride=stride), state, f"{prefix}.downsample.1")
        return F.relu(out + x)

    y = F.relu(bn(F.conv2d(x, state["conv1.weight"], stride=2, padding=3), state, "bn1"))
    y = F.max_pool2d(y, 3, 2, 1)
    for stage, blocks in enumerate((1, 2, 1, 1), start=1):
        for index in range(blocks):
            y = block(y, f"layer{stage}.{index}", 2 if stage > 1 and index == 0 else 1)
    expected = F.linear(y.mean(dim=(2, 3)), state["fc.weight"], state["fc.bias"])
    with torch.no_grad():
        torch.testing.assert_close(net(x), expected, rtol=1e-5, atol=1e-5)
    assert count_blocks(list(state)) == (1, 2, 1, 1)


def test_irse_matches_the_reference_formula():
    """TreB1eN IR-SE unit: res = SE(bn(conv_s(prelu(conv(bn x))))); out = res + shortcut(x)."""
    net = randomise(IRSEBackbone(blocks=(1, 2, 1, 1), width=16, embedding_dim=8))
    state = net.state_dict()
    x = torch.randn(2, 3, 112, 112)

    def unit(x, index, stride):
        p = f"body.{index}"
        res = bn(x, state, f"{p}.res_layer.0")
        res = F.prelu(F.conv2d(res, state[f"{p}.res_layer.1.weight"], padding=1), state[f"{p}.res_layer.2.weight"])
        res = bn(F.conv2d(res, state[f"{p}.res_layer.3.weight"], stride=stride, padding=1), state, f"{p}.res_layer.4")
        gate = torch.sigmoid(F.conv2d(F.relu(F.conv2d(res.mean((2, 3), keepdim=True), state[f"{p}.res_layer.5.fc1.weight"])),
                                      state[f"{p}.res_layer.5.fc2.weight"]))
        if f"{p}.shortcut_layer.0.weight" in state:
            shortcut = bn(F.conv2d(x, state[f"{p}.shortcut_layer.0.weight"], stride=stride), state, f"{p}.shortcut_layer.1")
        else:
            shortcut = x[:, :, ::stride, ::stride]  # MaxPool2d(1, stride)
        return res * gate + shortcut

    y = F.prelu(bn(F.conv2d(x, state["input_layer.0.weight"], padding=1), state, "input_layer.1"), state["input_layer.2.weight"])
    for index, stride in enumerate((2, 2, 1, 2, 2)):
        y = unit(y, index, stride)
    y = bn(y, state, "output_layer.0").flatten(1)
    y = bn(F.linear(y, state["output_layer.3.weight"], state["output_layer.3.bias"]), state, "output_layer.4")
    with torch.no_grad():
        torch.testing.assert_close(net(x), F.normalize(y, dim=1), rtol=1e-5, atol=1e-5)
    assert stage_blocks({k: tuple(v.shape) for k, v in state.items()}) == (1, 2, 1, 1)


def test_iresnet_matches_the_reference_formula():
    """insightface IBasicBlock: bn3(conv2_s(prelu(bn2(conv1(bn1 x))))) + shortcut(x); head bn2 -> fc -> features."""
    net = randomise(IResNet(layers=(1, 1, 2, 1), width=8, embedding_dim=6))
    state = net.state_dict()
    x = torch.randn(2, 3, 112, 112)

    def block(x, prefix, stride):
        out = F.conv2d(bn(x, state, f"{prefix}.bn1"), state[f"{prefix}.conv1.weight"], padding=1)
        out = F.prelu(bn(out, state, f"{prefix}.bn2"), state[f"{prefix}.prelu.weight"])
        out = bn(F.conv2d(out, state[f"{prefix}.conv2.weight"], stride=stride, padding=1), state, f"{prefix}.bn3")
        if f"{prefix}.downsample.0.weight" in state:
            x = bn(F.conv2d(x, state[f"{prefix}.downsample.0.weight"], stride=stride), state, f"{prefix}.downsample.1")
        return out + x

    y = F.prelu(bn(F.conv2d(x, state["conv1.weight"], padding=1), state, "bn1"), state["prelu.weight"])
    for stage, blocks in enumerate((1, 1, 2, 1), start=1):
        for index in range(blocks):
            y = block(y, f"layer{stage}.{index}", 2 if index == 0 else 1)
    y = F.linear(bn(y, state, "bn2").flatten(1), state["fc.weight"], state["fc.bias"])
    with torch.no_grad():
        torch.testing.assert_close(net(x), bn(y, state, "features"), rtol=1e-5, atol=1e-5)
