"""The DAV connector's opaque sync state: the server's sync token plus a snapshot of every item
name and (hashed) ETag seen, so a refused token falls back to a listing that still sees deletes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import zlib
from dataclasses import dataclass, field

from ..base import ConnectorError
from .webdav import canonical_path

PREFIX = "dav2:"  # names in the canonical percent-encoding
_OLD = "dav1:"  # names as decoded paths: read, and their names encoded


def etag_digest(etag: str) -> str:
    """A short fixed-size stand-in for an ETag: only equality matters, and states stay small."""
    return hashlib.blake2b(etag.encode(), digest_size=8).hexdigest()


@dataclass
class SyncState:
    """`token` is the server's sync token ('' = list everything and compare with `items`)."""

    collection: str
    token: str = ""
    items: dict[str, str] = field(default_factory=dict)  # item name -> etag_digest
    current: bool = True  # False: read from an older format (saved again even when unchanged)

    def encode(self) -> str:
        payload = json.dumps(
            {"c": self.collection, "t": self.token, "i": self.items}, separators=(",", ":")
        ).encode()
        return PREFIX + base64.urlsafe_b64encode(zlib.compress(payload, 6)).decode()

    @classmethod
    def decode(cls, text: str, collection: str) -> SyncState:
        if not text.startswith((PREFIX, _OLD)):
            raise ConnectorError("Not a DAV sync state", "ErrorInvalidSyncStateData")
        old = text.startswith(_OLD)
        try:
            raw = json.loads(zlib.decompress(base64.urlsafe_b64decode(text[len(PREFIX) :])))
            state = cls(str(raw["c"]), str(raw["t"]), dict(raw["i"]))
            if old:
                items = {canonical_path(k): v for k, v in state.items.items()}
                state = cls(canonical_path(state.collection), state.token, items, current=False)
        except (binascii.Error, zlib.error, ValueError, KeyError, TypeError) as e:
            raise ConnectorError(f"Corrupt DAV sync state: {e}", "ErrorInvalidSyncStateData") from e
        if state.collection != collection:
            raise ConnectorError(
                f"The sync state belongs to {state.collection}, not {collection}",
                "ErrorInvalidSyncStateData",
            )
        return state
