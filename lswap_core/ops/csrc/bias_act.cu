// CUDA kernel of bias_act: one element per thread, forward or first derivative.

#include "bias_act.h"
#include "common.h"

namespace lswap {

constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;

template <typename acc_t, int A>
__device__ __forceinline__ acc_t activate(acc_t v, acc_t alpha) {
    if (A == kRelu) return v > 0 ? v : acc_t(0);
    if (A == kLeakyRelu) return v > 0 ? v : v * alpha;
    if (A == kTanh) return tanh(v);
    if (A == kSigmoid) return acc_t(1) / (acc_t(1) + exp(-v));
    if (A == kElu) return v > 0 ? v : expm1(v);
    if (A == kSelu) return v > 0 ? acc_t(kSeluScale) * v : acc_t(kSeluScale * kSeluAlpha) * expm1(v);
    if (A == kSoftplus) return v > acc_t(20) ? v : log1p(exp(v));  // torch's threshold
    if (A == kSwish) return v / (acc_t(1) + exp(-v));
    return v;
}

// Derivative at the forward point, from the activation's output `s` (before
// gain and clamp) or, for swish, from its input `v`.
template <typename acc_t, int A>
__device__ __forceinline__ acc_t derivative(acc_t v, acc_t s, acc_t alpha) {
    if (A == kRelu) return s > 0 ? acc_t(1) : acc_t(0);
    if (A == kLeakyRelu) return s > 0 ? acc_t(1) : alpha;
    if (A == kTanh) return acc_t(1) - s * s;
    if (A == kSigmoid) return s * (acc_t(1) - s);
    if (A == kElu) return s > 0 ? acc_t(1) : s + acc_t(1);
    if (A == kSelu) return s > 0 ? acc_t(kSeluScale) : s + acc_t(kSeluScale * kSeluAlpha);
    if (A == kSoftplus) return acc_t(1) - exp(-s);
    if (A == kSwish) {
        const acc_t sigma = acc_t(1) / (acc_t(1) + exp(-v));
        return sigma * (acc_t(1) + v * (acc_t(1) - sigma));
    }
    return acc_t(1);
}

template <typename T, int A>
__global__ void bias_act_kernel(BiasActParams p) {
    using acc_t = typename Accumulator<T>::type;
    const acc_t alpha = p.alpha, gain = p.gain, clamp = p.clamp;
    const int64_t stride = int64_t(blockDim.x) * gridDim.x;
    for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < p.count; i += stride) {
        const acc_t x = static_cast<acc_t>(static_cast<const T*>(p.x)[i]);
        const acc_t b = p.b ? static_cast<acc_t>(static_cast<const T*>(p.b)[(i / p.bias_step) % p.bias_size]) : acc_t(0);
        acc_t out;
        if (p.mode == 0) {
            out = activate<acc_t, A>(x + b, alpha) * gain;
            if (clamp >= 0) out = out < -clamp ? -clamp : (out > clamp ? clamp : out);
        } else {
            const acc_t v = p.xref ? static_cast<acc_t>(static_cast<const T*>(p.xref)[i]) + b : acc_t(0);
            const acc_t y = static_cast<acc_t>(static_cast<const T*>(p.yref)[i]);
            const acc_t s = gain != 0 ? y / gain : acc_t(0);
            out = x * derivative<acc_t, A>(v, s, alpha) * gain;
            if (clamp >= 0 && !(y > -clamp && y < clamp)) out = 0;  // clamped outputs pass no gradient
        }
        static_cast<T*>(p.y)[i] = static_cast<T>(out);
    }
}

template <typename T> void bias_act_cuda(const BiasActParams& p, cudaStream_t stream) {
    constexpr int threads = 256;
    const unsigned int blocks = grid_size(p.count, threads);
    switch (p.act) {
        case kLinear: bias_act_kernel<T, kLinear><<<blocks, threads, 0, stream>>>(p); break;
        case kRelu: bias_act_kernel<T, kRelu><<<blocks, threads, 0, stream>>>(p); break;
        case kLeakyRelu: bias_act_kernel<T, kLeakyRelu><<<blocks, threads, 0, stream>>>(p); break;
        case kTanh: bias_act_kernel<T, kTanh><<<blocks, threads, 0, stream>>>(p); break;
        case kSigmoid: bias_act_kernel<T, kSigmoid><<<blocks, threads, 0, stream>>>(p); break;
        case kElu: bias_act_kernel<T, kElu><<<blocks, threads, 0, stream>>>(p); break;
        case kSelu: bias_act_kernel<T, kSelu><<<blocks, threads, 0, stream>>>(p); break;
        case kSoftplus: bias_act_kernel<T, kSoftplus><<<blocks, threads, 0, stream>>>(p); break;
        case kSwish: bias_act_kernel<T, kSwish><<<blocks, threads, 0, stream>>>(p); break;
        default: break;  // rejected by the binding
    }
}

template void bias_act_cuda<float>(const BiasActParams&, cudaStream_t);
template void bias_act_cuda<double>(const BiasActParams&, cudaStream_t);
template void bias_act_cuda<c10::Half>(const BiasActParams&, cudaStream_t);
template void bias_act_cuda<c10::BFloat16>(const BiasActParams&, cudaStream_t);

}  // namespace lswap
