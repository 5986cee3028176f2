"""API keys in the database: made once, kept only as a SHA-256, looked up by that hash.

A key is ``amk_`` and 43 URL-safe characters (256 random bits). Because it is random and
long, a plain SHA-256 is the right kind of hash (a slow password hash protects guessable
secrets, which these are not); the lookup is an index search on the hash, so no key is
compared character by character. The first 12 characters (``prefix``) are kept in clear to
tell keys apart in ``keys list``; they cannot be used to guess the rest.

Example::

    >>> from amulet_ai.store.database import Database
    >>> from amulet_ai.store.migrate import upgrade
    >>> db = Database("sqlite://"); upgrade(db)
    >>> keys = KeyRepository(db)
    >>> made = keys.create("shop-a", {"predict"})
    >>> keys.authenticate(made.key).owner
    'shop-a'
    >>> keys.authenticate("amk_not-a-key") is None
    True
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from amulet_ai.errors import NotFound, ValidationFailed
from amulet_ai.store.database import Database
from amulet_ai.store.models import OWNER_MAX, ApiKey, Owner, utcnow

SCOPES: Final = ("predict", "collection", "admin")
DEFAULT_SCOPES: Final = frozenset({"predict", "collection"})
KEY_PREFIX: Final = "amk_"
_SHOWN_CHARS: Final = 12
# last_used_at is refreshed at most this often, so a busy key does not write on every call.
LAST_USED_RESOLUTION: Final = timedelta(seconds=60)
_OWNER_RE: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")


def hash_key(key: str) -> str:
    """The SHA-256 hex digest stored for ``key``."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def check_owner(name: str) -> str:
    """``name`` if it is a valid owner name (letters, digits, ``._@-``, 1-64 characters)."""
    if not 0 < len(name) <= OWNER_MAX or not _OWNER_RE.match(name):
        raise ValidationFailed(
            f"owner: 1 to {OWNER_MAX} letters, digits or ._@- (starting with a letter or digit)."
        )
    return name


def check_scopes(scopes: Iterable[str]) -> frozenset[str]:
    """The scopes as a set; ``ValidationFailed`` for an unknown one or none at all."""
    chosen = frozenset(scopes)
    unknown = sorted(chosen - set(SCOPES))
    if unknown or not chosen:
        raise ValidationFailed(
            f"scopes: choose from {', '.join(SCOPES)}", details={"unknown": unknown}
        )
    return chosen


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the owner whose data they reach, and what they may do."""

    owner: str
    scopes: frozenset[str]
    key_id: int | None = None


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A key as ``keys list`` shows it: never the key itself."""

    id: int
    owner: str
    prefix: str
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just made: the only time the key is known in clear."""

    info: KeyInfo
    key: str


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(
        id=row.id,
        owner=row.owner,
        prefix=row.prefix,
        scopes=tuple(s for s in SCOPES if s in row.scopes.split()),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def ensure_owner(session: Session, name: str) -> None:
    """Insert the owner row if it is missing (inside the caller's transaction).

    ``INSERT ... ON CONFLICT DO NOTHING``: two first saves of a new owner at once on
    PostgreSQL must not fail on the primary key.
    """
    if session.get(Owner, name) is not None:
        return
    dialect = session.get_bind().dialect.name
    values = {"name": name, "created_at": utcnow()}
    if dialect == "postgresql":
        session.execute(pg_insert(Owner).values(values).on_conflict_do_nothing())
    elif dialect == "sqlite":
        session.execute(sqlite_insert(Owner).values(values).on_conflict_do_nothing())
    else:
        session.add(Owner(**values))
        session.flush()


class KeyRepository:
    """Create, list, revoke and check the API keys stored in ``db``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, owner: str, scopes: Iterable[str] = DEFAULT_SCOPES) -> NewKey:
        """Make a key for ``owner`` (created if new) with ``scopes``."""
        check_owner(owner)
        chosen = check_scopes(scopes)
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        with self.db.write() as session:
            ensure_owner(session, owner)
            row = ApiKey(
                owner=owner,
                key_hash=hash_key(key),
                prefix=key[:_SHOWN_CHARS],
                scopes=" ".join(s for s in SCOPES if s in chosen),
            )
            session.add(row)
            session.flush()
            return NewKey(_info(row), key)

    def list(self, *, include_revoked: bool = True) -> list[KeyInfo]:
        """Every key, oldest first."""
        query = select(ApiKey).order_by(ApiKey.id)
        if not include_revoked:
            query = query.where(ApiKey.revoked_at.is_(None))
        with self.db.read() as session:
            return [_info(row) for row in session.scalars(query)]

    def revoke(self, ident: str) -> KeyInfo:
        """Revoke a key by id or prefix; revoking twice keeps the first time.

        Raises:
            NotFound: no key has that id or prefix.
        """
        with self.db.write() as session:
            query = select(ApiKey)
            if ident.isdigit():
                query = query.where(ApiKey.id == int(ident))
            else:
                query = query.where(ApiKey.prefix == ident)
            rows = list(session.scalars(query))
            if len(rows) != 1:
                raise NotFound(f"No single key with id or prefix {ident!r}.")
            row = rows[0]
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            session.flush()
            return _info(row)

    def any_active(self) -> bool:
        """True when at least one key is not revoked (then every call needs a key)."""
        with self.db.read() as session:
            found = session.scalar(select(exists().where(ApiKey.revoked_at.is_(None))))
            return bool(found)

    def authenticate(self, key: str) -> Principal | None:
        """The principal of an active ``key``; None for an unknown or revoked one."""
        if not key.startswith(KEY_PREFIX):
            return None
        digest = hash_key(key)
        with self.db.read() as session:
            row = session.scalar(
                select(ApiKey).where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None))
            )
            if row is None:
                return None
            principal = Principal(row.owner, frozenset(row.scopes.split()), row.id)
            stale = row.last_used_at is None or utcnow() - row.last_used_at > LAST_USED_RESOLUTION
        if stale:
            self._touch(row.id)
        return principal

    def _touch(self, key_id: int) -> None:
        now = utcnow()
        with self.db.write() as session:
            session.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id)
                .where(
                    (ApiKey.last_used_at.is_(None))
                    | (ApiKey.last_used_at < now - LAST_USED_RESOLUTION)
                )
                .values(last_used_at=now)
            )
