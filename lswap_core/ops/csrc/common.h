// Helpers shared by the lswap CUDA kernels.
#pragma once

#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>
#include <cstdint>

namespace lswap {

// Arithmetic happens in float for 16-bit types, in the tensor's type otherwise.
template <typename T> struct Accumulator { using type = T; };
template <> struct Accumulator<c10::Half> { using type = float; };
template <> struct Accumulator<c10::BFloat16> { using type = float; };

// Grid size for a grid-stride loop over `count` elements with `threads` per block.
inline unsigned int grid_size(int64_t count, int threads) {
    const int64_t blocks = (count + threads - 1) / threads;
    const int64_t limit = int64_t(1) << 20;  // enough blocks to fill any GPU; the loop covers the rest
    return static_cast<unsigned int>(blocks < 1 ? 1 : (blocks > limit ? limit : blocks));
}

}  // namespace lswap
