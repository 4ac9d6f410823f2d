// Upsample, FIR-filter, downsample: the parameters shared by the binding and the kernel.
#pragma once

#include <cuda_runtime.h>
#include <cstdint>

namespace lswap {

struct Upfirdn2dParams {
    const void* x;             // input (N, C, H, W), any strides
    const float* f;            // filter (filter_h, filter_w)
    void* y;                   // output (N, C, out_h, out_w)
    int up_x, up_y;
    int down_x, down_y;
    int pad_x0, pad_y0;        // leading padding of the upsampled image (negative crops)
    bool flip;                 // true: correlate with f; false: convolve
    float gain;
    int64_t channels, in_h, in_w;
    int64_t in_stride_n, in_stride_c, in_stride_h, in_stride_w;
    int filter_h, filter_w;
    int64_t filter_stride_h, filter_stride_w;
    int64_t out_h, out_w;
    int64_t out_stride_n, out_stride_c, out_stride_h, out_stride_w;
    int64_t count;             // number of output elements
};

template <typename T> void upfirdn2d_cuda(const Upfirdn2dParams& p, cudaStream_t stream);

}  // namespace lswap
