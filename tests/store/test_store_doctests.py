"""The examples in the store modules' docstrings run and say what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "amulet_ai.store",
    "amulet_ai.store.database",
    "amulet_ai.store.export",
    "amulet_ai.store.history",
    "amulet_ai.store.images",
    "amulet_ai.store.keys",
    "amulet_ai.store.migrate",
    "amulet_ai.store.pieces",
    "amulet_ai.store.store",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no example"
    assert result.failed == 0
