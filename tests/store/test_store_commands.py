"""`db`, `keys` and `export-feedback` as an operator runs them, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import result_for

from amulet_ai.cli import main
from amulet_ai.config import get_settings
from amulet_ai.store import Database, Store, keep_photo


@pytest.fixture
def run(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """The commands' settings point at this test's database (its URL is yielded)."""
    monkeypatch.setenv("AMULET_DATABASE_URL", database_url)
    monkeypatch.chdir(tmp_path)  # no developer's .env
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()
    root.handlers[:] = handlers
    root.setLevel(level)


def call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_db_upgrade_then_current(run: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = call(capsys, "db", "current")
    assert code == 1 and "revision none" in out
    assert call(capsys, "db", "upgrade")[0] == 0
    code, out, _ = call(capsys, "db", "current")
    assert code == 0 and "up to date" in out


def test_keys_create_list_revoke(run: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = run
    call(capsys, "db", "upgrade")
    code, out, _ = call(capsys, "keys", "create", "--owner", "shop-a", "--json")
    assert code == 0
    made = json.loads(out)
    assert made["owner"] == "shop-a" and made["scopes"] == ["predict", "collection"]
    code, out, err = call(
        capsys, "keys", "create", "--owner", "shop-b", "--scope", "predict", "--scope", "admin"
    )
    assert code == 0 and out.strip().startswith("amk_") and "shown once" in err
    code, out, _ = call(capsys, "keys", "list", "--json")
    listed = json.loads(out)
    assert [(k["owner"], k["scopes"]) for k in listed] == [
        ("shop-a", ["predict", "collection"]),
        ("shop-b", ["predict", "admin"]),
    ]
    assert made["key"] not in out
    code, out, _ = call(capsys, "keys", "list")
    assert "shop-a" in out and made["key"] not in out and "active" in out
    assert call(capsys, "keys", "revoke", listed[0]["prefix"])[0] == 0
    store = Store(Database(url))
    assert store.keys.authenticate(made["key"]) is None
    store.close()
    code, _, err = call(capsys, "keys", "revoke", "999")
    assert code == 1 and "No single key" in err
    code, _, err = call(capsys, "keys", "create", "--owner", "no spaces")
    assert code == 1 and "owner" in err


def test_db_backup_copies_sqlite_and_explains_pg_dump(
    run: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    url = run
    if url.startswith("sqlite"):
        call(capsys, "keys", "create", "--owner", "shop-a")
    target = tmp_path / "backup" / "copy.db"
    code, out, err = call(capsys, "db", "backup", str(target))
    if url.startswith("postgresql"):
        assert code == 2 and "pg_dump" in err and not target.exists()
        return
    assert code == 0 and target.is_file()
    copy = Store(Database(f"sqlite:///{target}"))
    assert [k.owner for k in copy.keys.list()] == ["shop-a"]
    copy.close()


def test_export_feedback_command(
    run: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_photo: Callable[..., bytes],
) -> None:
    url = run
    call(capsys, "db", "upgrade")
    store = Store(Database(url))
    photo = keep_photo(make_photo(300, 300, seed=3))
    item = store.history.save("ann", result_for("waek_man"), model=("m", "1"), front=photo)
    store.history.set_feedback("ann", item, correct=True)
    store.close()
    code, out, _ = call(capsys, "export-feedback", "--out", str(tmp_path / "fb"))
    assert code == 0 and "wrote 1 photos" in out
    assert (tmp_path / "fb" / "waek_man" / "front" / f"history-{item}.jpg").is_file()
