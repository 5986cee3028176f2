"""What the saved-work API tests share: an app and a store on one database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient

from amulet_ai.store import Store


@dataclass
class Saved:
    """An app on a database, and a store on the same database (as ``keys create`` uses)."""

    client: TestClient
    store: Store

    def key(self, owner: str, *scopes: str) -> dict[str, str]:
        """Headers with a new key of ``owner`` (default scopes: predict and collection)."""
        made = self.store.keys.create(owner, scopes or ("predict", "collection"))
        return {"X-API-Key": made.key}

    def predict(self, photo: bytes, headers: dict[str, str], **params: Any) -> dict[str, Any]:
        """POST /v1/predict?save=true with ``photo`` as the front; the JSON answer."""
        r = self.client.post(
            "/v1/predict",
            params={"save": "true", **params},
            files={"front": ("front.jpg", photo, "image/jpeg")},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body
