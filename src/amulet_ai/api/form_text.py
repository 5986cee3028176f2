"""Text parts of a multipart form: UTF-8, within a length limit, no control characters.

Example::

    >>> from amulet_ai.api.uploads import Form
    >>> form_text(Form(), "name_en", limit=200) is None
    True
"""

from __future__ import annotations

from pydantic import TypeAdapter, ValidationError

from amulet_ai.api.saved_schemas import Line, Lines
from amulet_ai.api.uploads import Form
from amulet_ai.errors import ValidationFailed

_LINE: TypeAdapter[str] = TypeAdapter(Line)
_LINES: TypeAdapter[str] = TypeAdapter(Lines)


def form_text(form: Form, field: str, *, limit: int, multiline: bool = False) -> str | None:
    """The text of ``field`` (None when absent); 422 ``validation_error`` when it is not
    UTF-8, longer than ``limit`` characters, blank (one line) or holds control characters."""
    part = form.one(field)
    if part is None:
        return None
    raw = part.content.read_bytes()
    if len(raw) > 4 * limit:
        raise ValidationFailed(f"{field}: at most {limit} characters.", details={"field": field})
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed(f"{field}: not valid UTF-8.", details={"field": field}) from None
    if len(value) > limit:
        raise ValidationFailed(f"{field}: at most {limit} characters.", details={"field": field})
    try:
        return (_LINES if multiline else _LINE).validate_python(value)
    except ValidationError as exc:
        message = exc.errors()[0]["msg"]
        raise ValidationFailed(f"{field}: {message}.", details={"field": field}) from None
