#!/usr/bin/env bash
# The whole GPU path in one go, for a machine with a CUDA device (about 8 minutes on one H100):
# install lswap, build its CUDA kernels, run every CUDA test, run the benchmarks on the GPU, and write
# everything into one results file.
#
#   bash benchmarks/gpu-check.sh [RESULTS_FILE]      # default: ${OUT:-.}/gpu-check.txt
#
# The machine needs torch with CUDA, nvcc and ninja, and lswap's dependencies (pluggy, typer, rich,
# pyyaml, safetensors, pillow, numpy, scipy): nothing is downloaded. LSWAP_GPU_CHECK_QUICK=1 runs
# every step with the smallest sizes and LSWAP_GPU_CHECK_SKIP_INSTALL=1 skips the installation (what
# the test suite does on a CPU, to check the script itself).
set -uo pipefail
cd "$(dirname "$0")/.."

RESULTS="${1:-${OUT:-.}/gpu-check.txt}"
mkdir -p "$(dirname "$RESULTS")"
PYTHON="${PYTHON:-python3}"
QUICK="${LSWAP_GPU_CHECK_QUICK:-0}"
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}" MAX_JOBS="${MAX_JOBS:-16}"
export LSWAP_HOME="${LSWAP_HOME:-$PWD/.lswap-gpu-check}" LSWAP_NO_PROGRESS=1 PIP_DISABLE_PIP_VERSION_CHECK=1

: > "$RESULTS"
section() { printf '\n== %s ==\n' "$1" | tee -a "$RESULTS"; }
# step SECONDS NAME COMMAND...: run with a time limit, output to the results file, never stop the script.
step() {
    local limit=$1 name=$2
    shift 2
    section "$name"
    local started=$SECONDS
    timeout --signal=INT "$limit" "$@" >> "$RESULTS" 2>&1
    local status=$?
    echo "-- $name: exit $status after $((SECONDS - started)) s" | tee -a "$RESULTS"
}

section "machine"
{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "nvidia-smi: not found"
    "$PYTHON" -c 'import torch, sys; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "devices", torch.cuda.device_count())'
} >> "$RESULTS" 2>&1

if [ "${LSWAP_GPU_CHECK_SKIP_INSTALL:-0}" != "1" ]; then
    step 120 "install" "$PYTHON" -m pip install --quiet --no-deps --no-build-isolation -e .
fi
step 180 "build the CUDA kernels" "$PYTHON" -c '
import torch
from lswap_core.ops.extensions import load_kernel, unavailable_reason
reason = unavailable_reason()
if reason:
    raise SystemExit(f"kernels not built: {reason}")
for name, sources in (("upfirdn2d", ["upfirdn2d.cpp", "upfirdn2d.cu"]), ("bias_act", ["bias_act.cpp", "bias_act.cu"])):
    print(name, "built" if load_kernel(name, sources) is not None else "not built")
'
if [ "$QUICK" = "1" ]; then  # on a CPU: the GPU tests skip; compiling the kernels there takes minutes
    step 240 "CUDA tests" "$PYTHON" -m pytest -q -p no:cacheprovider tests/gpu/test_cuda.py -rs
else
    step 240 "CUDA tests" "$PYTHON" -m pytest -q -p no:cacheprovider tests/gpu/test_cuda.py tests/unit/test_ops_extensions.py -rs
fi

if [ "$QUICK" = "1" ]; then
    step 120 "bench generator" "$PYTHON" -m lswap_core bench generator --device auto --resolutions 64 --batches 1 --repeats 1 --no-memory --no-nonfused
    step 120 "bench mixer" "$PYTHON" -m lswap_core bench mixer --device auto --batches 2 --num-ws 2 --repeats 1
    step 180 "bench train fp32" "$PYTHON" -m lswap_core bench train --device auto --configs tiny --steps 1
    step 180 "bench train bf16" "$PYTHON" -m lswap_core bench train --device auto --configs tiny --steps 1 --precision bf16
    step 180 "bench train fp16" "$PYTHON" -m lswap_core bench train --device auto --configs tiny --steps 1 --precision fp16
    step 120 "bench generator stylenerf" "$PYTHON" -m lswap_core bench generator --generator stylenerf --device auto --resolutions 64 --repeats 1 --no-memory
else
    step 150 "bench generator" "$PYTHON" -m lswap_core bench generator --device auto --resolutions 256,1024 --batches 8 --repeats 3
    step 60 "bench mixer" "$PYTHON" -m lswap_core bench mixer --device auto --batches 32
    step 240 "bench train fp32" "$PYTHON" -m lswap_core bench train --device auto --configs 1024 --steps 3
    step 240 "bench train bf16" "$PYTHON" -m lswap_core bench train --device auto --configs 1024 --steps 3 --precision bf16
    step 240 "bench train fp16" "$PYTHON" -m lswap_core bench train --device auto --configs 1024 --steps 3 --precision fp16
    step 120 "bench generator stylenerf" "$PYTHON" -m lswap_core bench generator --generator stylenerf --device auto --resolutions 256,1024
fi
section "done"
echo "results in $RESULTS" | tee -a "$RESULTS"
