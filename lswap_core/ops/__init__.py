"""Custom operators of style-based generators, after NVlabs' ``torch_utils/ops``.

- `upfirdn2d`: upsample, FIR-filter and downsample 2-D images (and the
  ``upsample2d`` / ``downsample2d`` / ``filter2d`` conveniences);
- `bias_act`: bias, activation, gain and clamp in one op;
- `conv2d_resample`: a 2-D convolution fused with FIR up/downsampling.

``upfirdn2d`` and ``bias_act`` each have a pure-PyTorch implementation, used
automatically on CPU and whenever the CUDA kernels are unavailable, and a
CUDA kernel (sources in ``csrc/``) compiled with ninja the first time a CUDA
tensor reaches the op (`lswap_core.ops.extensions`); ``conv2d_resample``
composes convolutions with ``upfirdn2d``. Importing this package compiles
nothing.

Import the functions from their modules (``from lswap_core.ops.upfirdn2d
import upfirdn2d``). Each op takes ``impl``: ``"auto"`` (the kernel for CUDA
tensors when it builds, else PyTorch), ``"ref"`` (the plain reference
algorithm, for comparisons and benchmarks) or ``"cuda"`` (the kernel, or
`lswap_core.ops.extensions.KernelUnavailable`).
"""
