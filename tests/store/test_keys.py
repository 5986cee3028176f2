"""API keys in the database: hashed, scoped, revocable, never kept in clear."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from amulet_ai.errors import NotFound, ValidationFailed
from amulet_ai.store import Store
from amulet_ai.store.keys import KEY_PREFIX, hash_key


def test_a_new_key_authenticates_as_its_owner_with_its_scopes(store: Store) -> None:
    made = store.keys.create("shop-a", {"predict", "collection"})
    assert made.key.startswith(KEY_PREFIX) and len(made.key) > 40
    principal = store.keys.authenticate(made.key)
    assert principal is not None
    assert (principal.owner, principal.scopes) == ("shop-a", frozenset({"predict", "collection"}))
    assert made.info.scopes == ("predict", "collection")


def test_only_the_hash_of_a_key_is_stored(store: Store) -> None:
    made = store.keys.create("shop-a")
    with store.db.read() as session:
        rows = session.execute(text("select key_hash, prefix from api_keys")).all()
    assert rows == [(hash_key(made.key), made.key[:12])]
    dumped = " ".join(str(v) for row in rows for v in row)
    assert made.key not in dumped


def test_unknown_and_revoked_keys_do_not_authenticate(store: Store) -> None:
    made = store.keys.create("shop-a")
    other = store.keys.create("shop-b")
    assert store.keys.authenticate(made.key + "x") is None
    assert store.keys.authenticate("not-even-the-prefix") is None
    revoked = store.keys.revoke(made.info.prefix)
    assert revoked.revoked_at is not None
    assert store.keys.authenticate(made.key) is None
    assert store.keys.authenticate(other.key) is not None
    # Revoking again keeps the first time.
    assert store.keys.revoke(str(made.info.id)).revoked_at == revoked.revoked_at


def test_any_active_follows_creation_and_revocation(store: Store) -> None:
    assert store.keys.any_active() is False
    made = store.keys.create("shop-a")
    assert store.keys.any_active() is True
    store.keys.revoke(str(made.info.id))
    assert store.keys.any_active() is False
    assert [k.owner for k in store.keys.list()] == ["shop-a"]
    assert store.keys.list(include_revoked=False) == []


def test_last_used_is_recorded(store: Store) -> None:
    made = store.keys.create("shop-a")
    assert made.info.last_used_at is None
    store.keys.authenticate(made.key)
    (info,) = store.keys.list()
    assert info.last_used_at is not None and info.last_used_at >= info.created_at


def test_bad_owner_names_scopes_and_unknown_keys_are_refused(store: Store) -> None:
    for owner in ["", "x" * 65, "robert'); drop table owners;--", "ann bob", "-lead"]:
        with pytest.raises(ValidationFailed):
            store.keys.create(owner)
    with pytest.raises(ValidationFailed):
        store.keys.create("shop-a", {"predict", "root"})
    with pytest.raises(ValidationFailed):
        store.keys.create("shop-a", set())
    with pytest.raises(NotFound):
        store.keys.revoke("amk_nothing")
    assert store.keys.list() == []
