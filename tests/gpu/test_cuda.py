"""The GPU path: the generator on CUDA against the CPU, mixed precision and training steps on CUDA.

Every test here skips without a CUDA device; `benchmarks/gpu-check.sh` runs them on a GPU machine.
"""

from __future__ import annotations

import pytest
import torch

from lswap_core.config import load_config
from lswap_core.training import train
from tests.plugins.test_stylegan2_precision import generator as precision_generator

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(autouse=True)
def exact_float32():
    """TF32 would round the convolutions to 10 bits: parity is checked in true float32."""
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before


def render(model, ws, impl, dtype=None):
    codes = ws.clone().requires_grad_(True)
    weights = torch.randn(ws.shape[0], 3, model.resolution, model.resolution, generator=torch.Generator().manual_seed(2)).to(ws.device)
    with torch.autocast(ws.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        image = model.synthesis(codes, noise_mode="const", impl=impl)
    (image.float() * weights).sum().backward()
    return image.detach().float().cpu(), codes.grad.cpu()


@pytest.mark.parametrize("impl", ["auto", "kernels", "fast", "reference"])
def test_every_path_on_cuda_matches_the_cpu_in_float32(impl):
    model = precision_generator(None)
    ws = model.mapping(torch.randn(2, 512, generator=torch.Generator().manual_seed(1))).detach()
    cpu_image, cpu_grad = render(model, ws, "reference")
    cuda_model = model.to("cuda")
    image, grad = render(cuda_model, ws.to("cuda"), impl)
    assert (image - cpu_image).abs().max() <= 1e-4 * cpu_image.abs().max()
    # NVlabs' algorithm (with the CUDA kernels: what "auto" takes on CUDA) to 1e-5 relative; the CPU-built
    # path was measured at 1.6e-3 on an H100, which is why it is not the default there.
    tolerance = 2e-3 if impl == "fast" else 1e-5
    assert (grad - cpu_grad).norm() <= tolerance * cpu_grad.norm()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_reduced_precision_on_cuda(dtype):
    model = precision_generator(0.5).to("cuda")
    ws = model.mapping(torch.randn(2, 512, generator=torch.Generator().manual_seed(1)).to("cuda")).detach()
    reference_image, reference_grad = render(model, ws, "auto")
    image, grad = render(model, ws, "auto", dtype)
    assert (image - reference_image).abs().max() <= 0.02 * reference_image.abs().max()
    assert (grad - reference_grad).norm() <= 0.15 * reference_grad.norm()


def test_float16_highest_resolutions_on_cuda():
    model = precision_generator(0.5).to("cuda")
    ws = model.mapping(torch.randn(2, 512, generator=torch.Generator().manual_seed(1)).to("cuda")).detach()
    reference_image, reference_grad = render(model, ws, "auto")
    codes = ws.clone().requires_grad_(True)
    image = model.synthesis(codes, num_fp16_res=2)
    (image * torch.randn(image.shape, generator=torch.Generator().manual_seed(2)).to("cuda")).sum().backward()
    assert image.dtype == torch.float32
    assert (image.detach().cpu() - reference_image).abs().max() <= 0.005 * reference_image.abs().max()
    assert torch.isfinite(codes.grad).all()


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_training_steps_on_cuda(tmp_path, precision):
    overrides = ["train.device=cuda", "train.steps=3", "train.batch_size=4", "train.validation_pairs=2", f"train.precision={precision}"]
    result = train(load_config("tiny", overrides, kind="train"), tmp_path / "run")
    assert result.steps_done == 3
    again = train(load_config("tiny", overrides, kind="train"), tmp_path / "again")
    losses = ("total", "id", "lp")  # not grad_norm: NaN on a step fp16's loss scaler skips
    assert [result.final_metrics[k] for k in losses] == [again.final_metrics[k] for k in losses]  # seeded on the GPU too
