// Python binding of the upfirdn2d CUDA kernel (see lswap_core/ops/upfirdn2d.py).

#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/extension.h>

#include "upfirdn2d.h"

namespace {

torch::Tensor upfirdn2d(torch::Tensor x, torch::Tensor f, int64_t up_x, int64_t up_y, int64_t down_x,
                        int64_t down_y, int64_t pad_x0, int64_t pad_x1, int64_t pad_y0, int64_t pad_y1,
                        bool flip, double gain) {
    TORCH_CHECK(x.is_cuda(), "upfirdn2d: x must be a CUDA tensor");
    TORCH_CHECK(x.dim() == 4, "upfirdn2d: x must have 4 dimensions");
    TORCH_CHECK(f.device() == x.device(), "upfirdn2d: f must be on the device of x");
    TORCH_CHECK(f.scalar_type() == torch::kFloat, "upfirdn2d: f must be float32");
    TORCH_CHECK(f.dim() == 2 && f.size(0) >= 1 && f.size(1) >= 1, "upfirdn2d: f must be a 2-D filter");
    TORCH_CHECK(up_x >= 1 && up_y >= 1 && down_x >= 1 && down_y >= 1, "upfirdn2d: factors must be >= 1");

    const int64_t span_w = x.size(3) * up_x + pad_x0 + pad_x1 - f.size(1);
    const int64_t span_h = x.size(2) * up_y + pad_y0 + pad_y1 - f.size(0);
    TORCH_CHECK(span_w >= 0 && span_h >= 0, "upfirdn2d: the output would be empty");
    const int64_t out_w = span_w / down_x + 1;
    const int64_t out_h = span_h / down_y + 1;

    const c10::cuda::OptionalCUDAGuard guard(device_of(x));
    torch::Tensor y = torch::empty({x.size(0), x.size(1), out_h, out_w},
                                   x.options().memory_format(x.suggest_memory_format()));
    if (y.numel() == 0) {
        return y;
    }

    lswap::Upfirdn2dParams p;
    p.x = x.data_ptr();
    p.f = f.data_ptr<float>();
    p.y = y.data_ptr();
    p.up_x = static_cast<int>(up_x);
    p.up_y = static_cast<int>(up_y);
    p.down_x = static_cast<int>(down_x);
    p.down_y = static_cast<int>(down_y);
    p.pad_x0 = static_cast<int>(pad_x0);
    p.pad_y0 = static_cast<int>(pad_y0);
    p.flip = flip;
    p.gain = static_cast<float>(gain);
    p.channels = x.size(1);
    p.in_h = x.size(2);
    p.in_w = x.size(3);
    p.in_stride_n = x.stride(0);
    p.in_stride_c = x.stride(1);
    p.in_stride_h = x.stride(2);
    p.in_stride_w = x.stride(3);
    p.filter_h = static_cast<int>(f.size(0));
    p.filter_w = static_cast<int>(f.size(1));
    p.filter_stride_h = f.stride(0);
    p.filter_stride_w = f.stride(1);
    p.out_h = out_h;
    p.out_w = out_w;
    p.out_stride_n = y.stride(0);
    p.out_stride_c = y.stride(1);
    p.out_stride_h = y.stride(2);
    p.out_stride_w = y.stride(3);
    p.count = y.numel();

    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), "upfirdn2d", [&] {
        lswap::upfirdn2d_cuda<scalar_t>(p, stream);  // at::Half is c10::Half
    });
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    return y;
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
    m.def("upfirdn2d", &upfirdn2d, "Upsample, FIR-filter and downsample a batch of 2-D images (CUDA)");
}
