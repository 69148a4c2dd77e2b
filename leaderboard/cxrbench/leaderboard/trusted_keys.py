"""The public keys a leaderboard store trusts: `trusted_keys.json` at the store's root.

A record is `verified` only when its signature checks against one of these keys (and it was
scored on held-out sets). The file changes only by a reviewed commit (`cxrbench keys trust`);
the private halves never enter the repository.
"""

from __future__ import annotations

import base64
import json
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from cxrbench.data.atomic import atomic_write_bytes
from cxrbench.errors import ConfigError, pydantic_problems
from cxrbench.leaderboard.store import TRUSTED_KEYS_FILE
from cxrbench.trust.keys import public_fingerprint


class TrustedKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str  # who holds the private half
    public_key: str  # raw ed25519 public key, base64
    fingerprint: str
    added: str = ""  # ISO date

    @field_validator("public_key")
    @classmethod
    def _ed25519(cls, v: str) -> str:
        try:
            raw = base64.b64decode(v, validate=True)
        except ValueError:
            raise ValueError("not base64") from None
        if len(raw) != 32:
            raise ValueError(f"{len(raw)} bytes; an ed25519 public key has 32")
        return v

    def check(self) -> "TrustedKey":
        want = public_fingerprint(base64.b64decode(self.public_key))
        if self.fingerprint != want:
            raise ConfigError(f"trusted key {self.name!r}: fingerprint {self.fingerprint} is not its public key's "
                              f"({want})")
        return self


class TrustedKeys(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: list[TrustedKey] = []

    def by_public_key(self) -> dict[str, TrustedKey]:
        return {k.public_key: k for k in self.keys}


def read_trusted(store: Path) -> TrustedKeys:
    """The store's trusted keys (none when the file is absent); ConfigError names a malformed file."""
    path = Path(store) / TRUSTED_KEYS_FILE
    if not path.is_file():
        return TrustedKeys()
    try:
        out = TrustedKeys.model_validate(json.loads(path.read_text()))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except ValidationError as exc:
        raise ConfigError(f"{path}: {pydantic_problems(exc)}") from None
    for key in out.keys:
        key.check()
    return out


def add_trusted(store: Path, public_key: str, name: str) -> tuple[TrustedKey, Path]:
    """Append a public key to the store's trusted list (kept sorted by name); ConfigError if malformed."""
    try:
        raw = base64.b64decode(public_key, validate=True)
        entry = TrustedKey(name=name, public_key=public_key, fingerprint=public_fingerprint(raw),
                           added=date.today().isoformat())
    except (ValueError, ValidationError) as exc:
        raise ConfigError(f"public key {public_key[:16]}…: not a base64 ed25519 public key ({exc})") from None
    trusted = read_trusted(store)
    if entry.public_key in trusted.by_public_key():
        raise ConfigError(f"{Path(store) / TRUSTED_KEYS_FILE} already trusts {entry.fingerprint}")
    trusted.keys = sorted([*trusted.keys, entry], key=lambda k: (k.name, k.fingerprint))
    path = Path(store) / TRUSTED_KEYS_FILE
    atomic_write_bytes(path, (json.dumps(trusted.model_dump(mode="json"), indent=2) + "\n").encode())
    return entry, path
