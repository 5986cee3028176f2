"""usage_examples.py runs from start to end, as a reader would run it, and shows real results."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from amulet_ai.ops.api_process import free_port

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_usage_examples_run_and_exit_0(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AMULET_")}
    # Nothing listens there, so the script starts (and stops) an API of its own.
    env["AMULET_PUBLIC_URL"] = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "usage_examples.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    out = result.stdout
    assert result.returncode == 0, out[-3000:] + result.stderr[-3000:]
    assert "8 threads x 10,000 increments -> 80,000 (expected 80,000)" in out
    assert "memory-mapped=True" in out
    assert "-> memory_limit_exceeded (503)" in out
    assert "state half_open" in out
    assert "started one at http://127.0.0.1:" in out
    assert "the same photo again:" in out and "cached=True" in out
    assert "the non-amulet picture was flagged unknown" in out
    assert "the photo placed on a table, locate=auto: status ok;" in out
    assert "location found box {" in out and "location whole_photo box {" in out
    assert "client.predict(table photo, mask=True) -> location.mask " in out
    assert "HTML posing as a JPEG -> 415" in out
    assert '"status": "ok"' in out
    assert "request 6: 429" in out, "the sixth request in a minute is refused at 5/minute"
    assert "POST /v1/predict?save=true" in out and "another owner's id -> 404 not_found" in out
    assert "/front/history-1.jpg']" in out, "the corrected photo is exported"
    assert 'client.pieces() -> [(1, "Grandfather\'s")]' in out
    assert "all examples ran" in out
    if (REPO_ROOT.parent / "shared" / "data" / "amulets").is_dir():
        assert "POST /v1/types -> enrolled_" in out
        assert "rejected [(5, 'unreadable'), (6, 'no_amulet')]" in out
        assert "chart.jpg was not used: No amulet found in this photo." in out
        assert "photos, status ok" in out
        assert "(enrolled, p=" in out, "ann's own type wins for its own photo"
        assert "bob's prediction of the same photo -> phra_sivali (model)" in out
        assert "after DELETE /v1/types/enrolled_" in out and out.rstrip().count("(model)") >= 2
