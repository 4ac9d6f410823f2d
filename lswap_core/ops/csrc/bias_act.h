// Bias + activation + gain + clamp: the parameters shared by the binding and the kernel.
#pragma once

#include <cuda_runtime.h>
#include <cstdint>

namespace lswap {

// Activation numbers, as in lswap_core/ops/bias_act.py (ACTIVATIONS[...].cuda_index).
enum Activation : int { kLinear = 1, kRelu, kLeakyRelu, kTanh, kSigmoid, kElu, kSelu, kSoftplus, kSwish };

struct BiasActParams {
    const void* x;     // mode 0: the input; mode 1: the gradient of the output
    const void* b;     // bias, or null
    const void* xref;  // mode 1: the forward input (null when the derivative needs only the output)
    const void* yref;  // mode 1: the forward output
    void* y;           // result, same layout as x
    int mode;          // 0: forward; 1: gradient with respect to the input
    int act;
    float alpha, gain, clamp;  // clamp < 0 disables clamping
    int64_t count;     // elements of x
    int64_t bias_size;
    int64_t bias_step; // stride of the bias dimension in x's (dense) memory layout
};

template <typename T> void bias_act_cuda(const BiasActParams& p, cudaStream_t stream);

}  // namespace lswap
