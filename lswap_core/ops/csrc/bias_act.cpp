// Python binding of the bias_act CUDA kernel (see lswap_core/ops/bias_act.py).

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/extension.h>

#include "bias_act.h"

namespace {

bool same_layout(const torch::Tensor& a, const torch::Tensor& b) {
    if (a.sizes() != b.sizes()) return false;
    for (int64_t i = 0; i < a.dim(); ++i) {
        if (a.size(i) > 1 && a.stride(i) != b.stride(i)) return false;
    }
    return true;
}

torch::Tensor bias_act(torch::Tensor x, torch::Tensor b, torch::Tensor xref, torch::Tensor yref, int64_t mode,
                       int64_t dim, int64_t act, double alpha, double gain, double clamp) {
    TORCH_CHECK(x.is_cuda(), "bias_act: x must be a CUDA tensor");
    TORCH_CHECK(x.is_non_overlapping_and_dense(), "bias_act: x must be dense");
    TORCH_CHECK(mode == 0 || mode == 1, "bias_act: mode must be 0 (forward) or 1 (gradient)");
    TORCH_CHECK(act >= lswap::kLinear && act <= lswap::kSwish, "bias_act: unknown activation");
    TORCH_CHECK(b.numel() == 0 || (b.dim() == 1 && dim >= 0 && dim < x.dim() && b.numel() == x.size(dim)),
                "bias_act: the bias does not fit dimension dim of x");
    TORCH_CHECK(b.numel() == 0 || (b.scalar_type() == x.scalar_type() && b.device() == x.device() && b.is_contiguous()),
                "bias_act: the bias must be a contiguous tensor of x's dtype and device");
    for (const torch::Tensor* ref : {&xref, &yref}) {
        TORCH_CHECK(ref->numel() == 0 || (same_layout(*ref, x) && ref->scalar_type() == x.scalar_type() &&
                                          ref->device() == x.device()),
                    "bias_act: reference tensors must match x in shape, layout, dtype and device");
    }
    TORCH_CHECK(mode == 0 || yref.numel() == x.numel(), "bias_act: the gradient needs the forward output");

    const c10::cuda::OptionalCUDAGuard guard(device_of(x));
    torch::Tensor y = torch::empty_like(x);
    TORCH_CHECK(same_layout(y, x), "bias_act: could not allocate the output in x's layout");
    if (x.numel() == 0) {
        return y;
    }

    lswap::BiasActParams p;
    p.x = x.data_ptr();
    p.b = b.numel() ? b.data_ptr() : nullptr;
    p.xref = xref.numel() ? xref.data_ptr() : nullptr;
    p.yref = yref.numel() ? yref.data_ptr() : nullptr;
    p.y = y.data_ptr();
    p.mode = static_cast<int>(mode);
    p.act = static_cast<int>(act);
    p.alpha = static_cast<float>(alpha);
    p.gain = static_cast<float>(gain);
    p.clamp = static_cast<float>(clamp);
    p.count = x.numel();
    p.bias_size = b.numel() ? b.numel() : 1;
    p.bias_step = b.numel() ? x.stride(dim) : 1;

    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "bias_act",
                                    [&] { lswap::bias_act_cuda<scalar_t>(p, stream); });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return y;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("bias_act", &bias_act, "Fused bias, activation, gain and clamp, and its gradient (CUDA)");
}
