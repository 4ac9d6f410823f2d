"""A small sample of the stress script's kill loop: training killed with SIGKILL at random moments
and resumed until done ends bit-identical to an uninterrupted run, with no corrupt file on the way.
``python -m tests.stress.run --only kill`` runs a hundred of these."""

from __future__ import annotations

import pytest

from tests.stress.kill import run_kill_loop


@pytest.mark.slow
def test_killed_and_resumed_runs_match_an_uninterrupted_one(tmp_path):
    stats = run_kill_loop(3, tmp_path, seed=1, steps=20, log=lambda message: None, twin=False)
    assert stats.failures == [] and stats.corrupt == [], (stats.failures, stats.corrupt)
    assert stats.runs == 3 and stats.kills >= 3 and stats.identical == 3
    assert stats.resumes + stats.restarts == stats.kills
