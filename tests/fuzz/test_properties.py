"""Every loader, fed mutated files: it loads them or raises an LswapError, and never runs code from them.

Inputs are valid files of each format (built by the tests) with one file
mutated: bit flips, truncations, spliced bytes, edited safetensors headers
and zip records, repacked archives, replaced pickle opcodes and arguments,
code-executing gadgets, JSON and YAML edits (see ``mutations.py``). The
marker file the gadgets would create must never appear.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .mutations import HypothesisSource
from .targets import TARGETS

FUZZ = settings.get_profile("lswap-fuzz")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # mutated files make zipfile, PIL and torch warn


@pytest.mark.parametrize("target", list(TARGETS))
@settings(FUZZ)
@given(data=st.data())
def test_a_loader_loads_or_refuses_and_never_runs_code(harness, target, data):
    seed, files = harness.make_input(HypothesisSource(data), target)
    outcome = harness.check(target, seed, files, timeout=60)
    assert outcome.kind != "failure", f"{target} on a mutation of {seed.name}: {outcome.error}\n{outcome.trace}"
