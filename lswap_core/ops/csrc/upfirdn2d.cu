// CUDA kernel of upfirdn2d: each thread computes output pixels directly from
// the input taps that land on non-zero samples of the zero-stuffed image, so
// the upsampled image is never formed.

#include "common.h"
#include "upfirdn2d.h"

namespace lswap {

// floor(a / b) for b > 0, also for negative a.
__device__ __forceinline__ int64_t floor_div(int64_t a, int64_t b) {
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

template <typename T>
__global__ void upfirdn2d_kernel(Upfirdn2dParams p) {
    using acc_t = typename Accumulator<T>::type;
    const T* x = static_cast<const T*>(p.x);
    T* y = static_cast<T*>(p.y);
    const int64_t stride = int64_t(blockDim.x) * gridDim.x;
    for (int64_t index = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; index < p.count; index += stride) {
        const int64_t ox = index % p.out_w;
        int64_t rest = index / p.out_w;
        const int64_t oy = rest % p.out_h;
        rest /= p.out_h;
        const int64_t c = rest % p.channels;
        const int64_t n = rest / p.channels;

        // The output reads the upsampled samples m = k .. k + taps - 1; sample m
        // is input pixel m / up when up divides m, and zero otherwise.
        const int64_t kx = ox * p.down_x - p.pad_x0;
        const int64_t ky = oy * p.down_y - p.pad_y0;
        int64_t ix0 = floor_div(kx + p.up_x - 1, p.up_x);
        int64_t ix1 = floor_div(kx + p.filter_w - 1, p.up_x);
        int64_t iy0 = floor_div(ky + p.up_y - 1, p.up_y);
        int64_t iy1 = floor_div(ky + p.filter_h - 1, p.up_y);
        ix0 = ix0 < 0 ? 0 : ix0;
        iy0 = iy0 < 0 ? 0 : iy0;
        ix1 = ix1 > p.in_w - 1 ? p.in_w - 1 : ix1;
        iy1 = iy1 > p.in_h - 1 ? p.in_h - 1 : iy1;

        const T* plane = x + n * p.in_stride_n + c * p.in_stride_c;
        acc_t sum = 0;
        for (int64_t iy = iy0; iy <= iy1; ++iy) {
            const int64_t ty = iy * p.up_y - ky;  // tap of the correlation kernel
            const int64_t fy = p.flip ? ty : p.filter_h - 1 - ty;
            for (int64_t ix = ix0; ix <= ix1; ++ix) {
                const int64_t tx = ix * p.up_x - kx;
                const int64_t fx = p.flip ? tx : p.filter_w - 1 - tx;
                const acc_t tap = static_cast<acc_t>(p.f[fy * p.filter_stride_h + fx * p.filter_stride_w]);
                sum += static_cast<acc_t>(plane[iy * p.in_stride_h + ix * p.in_stride_w]) * tap;
            }
        }
        y[n * p.out_stride_n + c * p.out_stride_c + oy * p.out_stride_h + ox * p.out_stride_w] =
            static_cast<T>(sum * static_cast<acc_t>(p.gain));
    }
}

template <typename T> void upfirdn2d_cuda(const Upfirdn2dParams& p, cudaStream_t stream) {
    constexpr int threads = 256;
    upfirdn2d_kernel<T><<<grid_size(p.count, threads), threads, 0, stream>>>(p);
}

template void upfirdn2d_cuda<float>(const Upfirdn2dParams&, cudaStream_t);
template void upfirdn2d_cuda<double>(const Upfirdn2dParams&, cudaStream_t);
template void upfirdn2d_cuda<c10::Half>(const Upfirdn2dParams&, cudaStream_t);
template void upfirdn2d_cuda<c10::BFloat16>(const Upfirdn2dParams&, cudaStream_t);

}  // namespace lswap
