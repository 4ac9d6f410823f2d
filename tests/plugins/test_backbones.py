"""The shared backbones reproduce the official networks, under the official parameter names.

ResNet and iresnet are checked against golden fixtures recorded from the
official code (``tests/fixtures/README.md``): Deep3DFaceRecon's copy of
torchvision's ResNet and insightface's iresnet, loaded here without any
converter. IR-SE, which has no fixture, is checked against its reference
formula.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from lswap_plugins.backbones.iresnet import IResNet
from lswap_plugins.backbones.irse import IRSEBackbone, stage_blocks
from lswap_plugins.backbones.resnet import ResNet, count_blocks

from tests.golden import load_golden


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


def test_resnet_reproduces_deep3dfacerecons_regressor():
    """The recorded ReconNetWrapper: lswap's ResNet under its 1x1 heads gives the official 257 coefficients.

    Measured difference: 0 (|coefficients| <= 3.3); the tolerance leaves room for other CPU kernels.
    """
    golden = load_golden("deep3dface")
    config = golden.meta["lswap_config"]
    net = ResNet(config["layers"], config["width"], num_classes=None).eval()
    net.load_state_dict({k[len("backbone."):]: v for k, v in golden.state.items() if k.startswith("backbone.")})
    assert count_blocks(list(golden.state), "backbone.") == tuple(config["layers"])
    images = golden.inputs["images_lowres"].repeat_interleave(32, 2).repeat_interleave(32, 3)
    with torch.no_grad():
        features = net(F.interpolate((1 + images) / 2, size=224, mode="bilinear"))[:, :, None, None]
        # ReconNetWrapper.forward: the seven final_layers (1x1 convolutions), concatenated and flattened
        heads = [F.conv2d(features, golden.state[f"final_layers.{k}.weight"], golden.state[f"final_layers.{k}.bias"]) for k in range(7)]
    torch.testing.assert_close(torch.cat(heads, 1).flatten(1), golden.outputs["coefficients"], rtol=0, atol=1e-5)


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


def test_iresnet_reproduces_insightface():
    """insightface's iresnet.py, recorded: features of a 112x112 image and the input gradient (measured difference 0)."""
    golden = load_golden("arcface_iresnet")
    config = golden.meta["lswap_config"]
    net = IResNet(config["blocks"], config["width"], config["embedding_dim"]).eval()
    net.load_state_dict(golden.state)
    images = golden.inputs["image"].float().div(255).sub(0.5).div(0.5).requires_grad_(True)  # arcface_torch/inference.py
    features = net(images)
    (features * golden.inputs["projection"]).sum().backward()
    torch.testing.assert_close(features.detach(), golden.outputs["features"], rtol=0, atol=1e-5)
    torch.testing.assert_close(images.grad[:, :, ::4, ::4], golden.outputs["input_gradient_every4"], rtol=0, atol=1e-5)
