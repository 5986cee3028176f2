"""The API process runs with its configured interpreter switch interval, and gives it back."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from harness import async_client, make_settings


async def test_the_app_runs_with_its_switch_interval_and_restores_the_previous_one(
    model_dir: Path,
) -> None:
    before = sys.getswitchinterval()
    async with async_client(make_settings(model_dir, gil_switch_interval_ms=0.25)) as client:
        assert sys.getswitchinterval() == pytest.approx(0.00025)
        assert (await client.get("/health")).status_code == 200
    assert sys.getswitchinterval() == before
