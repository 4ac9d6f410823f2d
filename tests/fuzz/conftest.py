"""Hypothesis settings of the fuzz tests and the shared harness (seeds, input folder, marker file).

The ``lswap-fuzz`` profile is deterministic (``derandomize``: the same inputs
on every run and machine) and small, so that the whole of ``tests/fuzz`` runs
in well under a minute; ``LSWAP_FUZZ_EXAMPLES`` raises the number of inputs
per loader. ``tests/stress/run.py`` runs the same properties a hundred
thousand times per loader.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from .targets import Harness

settings.register_profile(
    "lswap-fuzz",
    derandomize=True,
    database=None,  # nothing written into the checkout
    deadline=None,  # timings on a shared two-core machine vary too much to be a property
    max_examples=int(os.environ.get("LSWAP_FUZZ_EXAMPLES", "150")),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    print_blob=True,
)


@pytest.fixture(scope="session")
def harness() -> Harness:
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    folder = Path(tempfile.mkdtemp(prefix="lswap-fuzz-", dir=base))
    yield Harness(folder)
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
