"""Run Amulet-AI: ``python production_runner.py {api,frontend,all,health,test,...}``.

The same commands as the ``amulet-ai`` console script; ``--help`` lists them. This file
works from a fresh clone before ``pip install -e .``: it puts ``src/`` on the path first.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from amulet_ai.cli import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
