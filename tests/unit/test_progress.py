"""Progress bars keep done/total, the elapsed time and the ETA whole on an 80-column terminal."""

from __future__ import annotations

import io

from rich.console import Console

from lswap_core import progress


def test_an_80_column_bar_shows_counts_and_eta(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(progress, "Console", lambda stderr: Console(file=out, width=80, force_terminal=True, color_system=None))
    monkeypatch.setattr(progress, "progress_enabled", lambda: True)
    with progress.progress_bar(300, "training") as bar:
        for _ in range(3):
            bar.advance(100, metrics={"total": 0.3688, "id": 0.3447, "lp": 0.002412, "shape": 0.0123})
    last = out.getvalue().rstrip().split("\r")[-1]
    assert "300/300" in last and "eta 0:00:00" in last
    assert all(len(line) <= 80 for line in last.replace("\x1b[2K", "").splitlines())
