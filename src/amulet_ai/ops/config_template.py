"""``config_template.env``, rendered from :class:`amulet_ai.config.Settings`.

The settings class is the only place a setting is defined; this module turns it into the
commented template operators copy to ``.env``: every variable with its meaning and default,
in the groups of ``config.py`` (its ``# --- Group ---`` comments).

A default that depends on the machine (the core count, for example) is marked on the field
with ``json_schema_extra={"template_default": "..."}`` and rendered as that text, so the file
is the same wherever it is generated.

Example::

    >>> from amulet_ai.ops.config_template import render_template
    >>> "# AMULET_PORT=8000" in render_template()
    True
"""

from __future__ import annotations

import inspect
import re
from enum import Enum
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import SecretStr
from pydantic.fields import FieldInfo

from amulet_ai.config import REPO_ROOT, Settings

TEMPLATE_PATH = REPO_ROOT / "config_template.env"
ENV_PREFIX = "AMULET_"

_HEADER = """\
# Amulet-AI configuration.
#
# Generated from amulet_ai.config.Settings by `amulet-ai config-template --output
# config_template.env`; a test keeps the two in step, so edit the class, not this file.
#
# Copy this file to .env in the directory you start Amulet-AI from (or export the
# variables). Every line shows a default: uncomment the ones you change. Lists are comma
# separated; relative paths are resolved from the working directory.
"""

_GROUP_RE = re.compile(r"^\s*#\s*---\s*(?P<name>.+?)\s*-*\s*$")
_FIELD_RE = re.compile(r"^\s{4}(?P<name>[a-z_][a-z0-9_]*)\s*:")


def env_name(field_name: str) -> str:
    """The environment variable of a settings field: ``port`` -> ``AMULET_PORT``."""
    return ENV_PREFIX + field_name.upper()


def field_groups(settings_cls: type[Settings] = Settings) -> dict[str, list[str]]:
    """Field names by group, in source order, read from the class's ``# --- Group`` comments."""
    groups: dict[str, list[str]] = {}
    current = "General"
    for line in inspect.getsource(settings_cls).splitlines():
        group = _GROUP_RE.match(line)
        if group:
            current = group["name"]
            continue
        field = _FIELD_RE.match(line)
        if field and field["name"] in settings_cls.model_fields:
            groups.setdefault(current, []).append(field["name"])
    missing = set(settings_cls.model_fields) - {n for names in groups.values() for n in names}
    if missing:
        groups.setdefault("Other", []).extend(sorted(missing))
    return groups


def format_value(value: Any) -> str:
    """A default as it would be written in an env file."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Path):
        try:
            return value.relative_to(REPO_ROOT).as_posix()
        except ValueError:
            return value.as_posix()
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(format_value(item) for item in value)
    return str(value)


def _default_text(field: FieldInfo) -> tuple[str, str | None]:
    """(value written after ``=``, a note for the description when the value is not fixed)."""
    extra = field.json_schema_extra
    if isinstance(extra, dict) and isinstance(extra.get("template_default"), str):
        return "", f"Default: {extra['template_default']}."
    return format_value(field.get_default(call_default_factory=True)), None


def _choices(field: FieldInfo) -> str | None:
    annotation = field.annotation
    if get_origin(annotation) is Literal:
        return " | ".join(str(choice) for choice in get_args(annotation))
    return None


def render_template(settings_cls: type[Settings] = Settings) -> str:
    """The full text of ``config_template.env`` for ``settings_cls``."""
    blocks = [_HEADER]
    for group, names in field_groups(settings_cls).items():
        lines = [f"# --- {group} " + "-" * max(3, 86 - len(group))]
        for name in names:
            field = settings_cls.model_fields[name]
            value, note = _default_text(field)
            description = (field.description or "").strip()
            choices = _choices(field)
            if choices:
                description += f" One of: {choices}."
            if note:
                description += f" {note}"
            lines.append("")
            lines.append(f"# {description}")
            lines.append(f"# {env_name(name)}={value}")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def render_markdown_table(settings_cls: type[Settings] = Settings) -> str:
    """The settings as Markdown tables, one per group (README's configuration section)."""
    parts: list[str] = []
    for group, names in field_groups(settings_cls).items():
        parts.append(f"**{group}**\n")
        parts.append("| Variable | Default | Meaning |")
        parts.append("|---|---|---|")
        for name in names:
            field = settings_cls.model_fields[name]
            value, note = _default_text(field)
            shown = f"`{value}`" if value else (note or "(unset)").removeprefix("Default: ")
            description = (field.description or "").strip()
            choices = _choices(field)
            if choices:
                description += f" One of: {choices}."
            cell = description.replace("|", "\\|")
            parts.append(f"| `{env_name(name)}` | {shown.rstrip('.')} | {cell} |")
        parts.append("")
    return "\n".join(parts)
