"""The collector's Streamlit page and what it uses to reach the API.

``PAGE_FILE`` is the page script; ``streamlit run frontend/app.py`` (repository root) and
``amulet-ai frontend`` both run it.
"""

from pathlib import Path

PAGE_FILE = Path(__file__).resolve().parent / "app.py"

__all__ = ["PAGE_FILE"]
