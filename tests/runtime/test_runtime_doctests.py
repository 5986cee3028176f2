"""The examples in the runtime modules' docstrings run and say what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

import amulet_ai.runtime

MODULES = [
    "amulet_ai.runtime",
    "amulet_ai.runtime.atomic",
    "amulet_ai.runtime.cache",
    "amulet_ai.runtime.circuit",
    "amulet_ai.errors",
    "amulet_ai.runtime.gc_manager",
    "amulet_ai.runtime.locks",
    "amulet_ai.runtime.memory",
    "amulet_ai.runtime.http_pool",
    "amulet_ai.runtime.retry",
    "amulet_ai.runtime.streaming",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0


def test_every_exported_name_exists() -> None:
    for name in amulet_ai.runtime.__all__:
        assert hasattr(amulet_ai.runtime, name), name
