"""Typed access to what AppTest found on the page.

``AppTest.get`` and ``Block.get`` are typed to return elements or blocks (``Node``) for any
kind; for an element's kind (``"markdown"``, ``"image"``, ``"toggle"``) they return only
elements of that class. :func:`elements` narrows them by ``isinstance``, and a node of
another class fails the test rather than being cast away.
"""

from __future__ import annotations

from typing import Final, TypeVar

from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import (
    Block,
    Caption,
    Element,
    Error,
    Info,
    Markdown,
    Subheader,
    Success,
    Title,
    Warning,
)

E = TypeVar("E", bound=Element)
TextElement = Title | Subheader | Markdown | Info | Warning | Error | Success
# The kinds of element that show text, in the order texts() lists them.
TEXT_KINDS: Final[dict[str, type[TextElement]]] = {
    "title": Title,
    "subheader": Subheader,
    "markdown": Markdown,
    "caption": Caption,
    "info": Info,
    "warning": Warning,
    "error": Error,
    "success": Success,
}


def elements(node: AppTest | Block, kind: str, cls: type[E]) -> list[E]:
    """The nodes of ``kind`` under ``node``, each an instance of ``cls``.

    >>> page = AppTest.from_string("import streamlit as st; st.caption('x')").run()
    >>> [caption.value for caption in elements(page, "caption", Caption)]
    ['x']
    """
    found = node.get(kind)
    typed = [each for each in found if isinstance(each, cls)]
    assert len(typed) == len(found), f"not every {kind} is a {cls.__name__}: {found}"
    return typed


def texts(node: AppTest | Block) -> list[str]:
    """Every visible text under ``node``, in page order within each kind."""
    return [each.value for kind, cls in TEXT_KINDS.items() for each in elements(node, kind, cls)]
