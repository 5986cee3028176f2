"""Settings and config_template.env: the template is the class, production refuses no keys."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from amulet_ai.config import Settings
from amulet_ai.ops.config_template import env_name, field_groups, render_template

LINE_RE = re.compile(r"^# (AMULET_[A-Z0-9_]+)=(.*)$")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AMULET_* variable from the caller's shell, and no stray .env in the cwd."""
    import os

    for name in list(os.environ):
        if name.startswith("AMULET_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def template_lines(repo_root: Path) -> dict[str, str]:
    text = (repo_root / "config_template.env").read_text(encoding="utf-8")
    return {m[1]: m[2] for m in map(LINE_RE.match, text.splitlines()) if m}


def test_template_file_is_what_the_class_renders(repo_root: Path) -> None:
    committed = (repo_root / "config_template.env").read_text(encoding="utf-8")
    assert committed == render_template(), (
        "run: amulet-ai config-template --output config_template.env"
    )


def test_template_names_match_the_settings_exactly(repo_root: Path) -> None:
    in_template = set(template_lines(repo_root))
    in_class = {env_name(name) for name in Settings.model_fields}
    assert in_class - in_template == set(), "settings missing from the template"
    assert in_template - in_class == set(), "stale names in the template"


def test_every_setting_is_documented_and_grouped() -> None:
    undocumented = [
        n for n, f in Settings.model_fields.items() if not (f.description or "").strip()
    ]
    assert undocumented == []
    groups = field_groups()
    assert "Other" not in groups, "a field sits outside the `# --- Group` comments of config.py"
    assert list(groups)[:2] == ["General", "Model"]
    assert sorted(n for names in groups.values() for n in names) == sorted(Settings.model_fields)


def test_template_defaults_read_back_as_the_defaults(repo_root: Path, tmp_path: Path) -> None:
    # Uncommenting every line must change nothing: the rendered values parse to the defaults.
    lines = [f"{name}={value}" for name, value in template_lines(repo_root).items() if value]
    (tmp_path / ".env").write_text("\n".join(lines) + "\n", encoding="utf-8")
    from_file = Settings()
    defaults = Settings(_env_file=None)
    for name in Settings.model_fields:
        if name == "model_dir":
            assert from_file.model_dir == Path("models")
            continue
        assert getattr(from_file, name) == getattr(defaults, name), name
    assert from_file.model_fields_set >= {"port", "rate_limit", "cache_enabled"}


def test_production_refuses_to_start_without_api_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMULET_ENV", "production")
    with pytest.raises(ValidationError, match="AMULET_API_KEYS must be set"):
        Settings()
    monkeypatch.setenv("AMULET_API_KEYS", "k1")
    assert Settings().env == "production"


def test_production_refuses_wildcard_cors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMULET_ENV", "production")
    monkeypatch.setenv("AMULET_API_KEYS", "k1")
    monkeypatch.setenv("AMULET_CORS_ORIGINS", "https://shop.example, *")
    with pytest.raises(ValidationError, match="CORS"):
        Settings()


def test_api_keys_and_cors_origins_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMULET_API_KEYS", " alpha, beta ,,gamma ")
    monkeypatch.setenv("AMULET_CORS_ORIGINS", "https://a.example,https://b.example")
    settings = Settings()
    assert [key.get_secret_value() for key in settings.api_keys] == ["alpha", "beta", "gamma"]
    assert "alpha" not in repr(settings), "keys must not show in logs or reprs"
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_dotenv_in_the_working_directory_is_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        "AMULET_PORT=9123\nAMULET_LOG_FORMAT=json\nAMULET_API_KEYS=one,two\n", encoding="utf-8"
    )
    settings = Settings()
    assert (settings.port, settings.log_format, len(settings.api_keys)) == (9123, "json", 2)
    monkeypatch.setenv("AMULET_PORT", "9124")
    assert Settings().port == 9124, "the environment wins over .env"


def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMULET_PORT", "70000")
    with pytest.raises(ValidationError):
        Settings()


def test_production_may_take_its_keys_from_the_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMULET_ENV", "production")
    monkeypatch.setenv("AMULET_DATABASE_URL", "postgresql+psycopg://amulet@db/amulet")
    settings = Settings()
    assert settings.api_keys == [] and settings.database.startswith("postgresql+psycopg://")


def test_the_database_defaults_to_a_sqlite_file_in_the_data_folder(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    assert settings.database == f"sqlite:///{(tmp_path / 'amulet.db').as_posix()}"
    assert settings.history == "results"
