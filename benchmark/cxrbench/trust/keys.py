"""The evaluator key: 32 random bytes in a file only its owner can read, and what derives from it.

Every secret a held-out evaluation needs is derived from the key with HKDF-SHA256 (RFC 5869,
`cryptography`'s implementation), one `info` label per purpose, so that no derived value reveals
the key or another derived value:

- the seed of each held-out phantom population (`population_seed`);
- the opaque ids that replace held-out image and patient ids (`opaque_id`, HMAC-SHA256);
- the ed25519 key that signs the records this evaluator computes (`signing_key`); its public
  half, hashed, is the key's public `fingerprint`, the only trace of the key in a record.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from cxrbench.errors import ConfigError

#: environment variable naming the key file when `--evaluator-key` is not given
KEY_ENV = "CXRBENCH_EVALUATOR_KEY"
KEY_BYTES = 32
#: HKDF salt: fixed, public; it separates cxrbench's derivations from any other use of the same bytes
_SALT = b"cxrbench evaluator key v1"
HOW_TO_MAKE = "make one with `cxrbench keys new PATH` (32 random bytes, mode 600) and keep it off shared disks"
DERIVATION = "HKDF-SHA256 (RFC 5869), salt 'cxrbench evaluator key v1', one info label per purpose"


def derive(secret: bytes, purpose: str, length: int = 32) -> bytes:
    """`length` bytes for one `purpose` (HKDF-SHA256 with the purpose as `info`)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=length, salt=_SALT, info=purpose.encode()).derive(secret)


def public_fingerprint(public_key: bytes) -> str:
    """The short public name of a key: the first 24 hex digits of sha256(raw ed25519 public key)."""
    return hashlib.sha256(public_key).hexdigest()[:24]


@dataclass(frozen=True)
class EvaluatorKey:
    """A loaded evaluator key. `repr` never shows the secret."""

    secret: bytes = field(repr=False)
    path: str = ""

    def __reduce__(self):  # the cached ed25519 object does not pickle; the secret rebuilds it
        return (EvaluatorKey, (self.secret, self.path))

    @cached_property
    def signing_key(self):
        """The ed25519 private key that signs this evaluator's records."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return Ed25519PrivateKey.from_private_bytes(derive(self.secret, "ed25519 record signing key"))

    @cached_property
    def public_key(self) -> bytes:
        """The raw 32-byte ed25519 public key (what a leaderboard store lists as trusted)."""
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        return self.signing_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @property
    def public_key_b64(self) -> str:
        return base64.b64encode(self.public_key).decode()

    @property
    def fingerprint(self) -> str:
        return public_fingerprint(self.public_key)

    def population_seed(self, source: str, site: str | None) -> int:
        """The seed of the held-out population of one source and site (a non-negative int64)."""
        raw = derive(self.secret, f"held-out population seed {source}/{site or 'all'}", 8)
        return int.from_bytes(raw, "big") >> 1

    @cached_property
    def _id_key(self) -> bytes:
        return derive(self.secret, "held-out opaque ids")

    def opaque_id(self, kind: str, value: str) -> str:
        """A stable id that names a held-out image (`kind` image) or patient without revealing it."""
        mac = hmac.new(self._id_key, f"{kind}\0{value}".encode(), hashlib.sha256).hexdigest()
        return f"{kind[0]}-{mac[:24]}"

    def keyed_hash(self, payload: bytes) -> str:
        """HMAC-SHA256 of `payload` under a key derived for fingerprints (hex)."""
        return hmac.new(derive(self.secret, "held-out fingerprints"), payload, hashlib.sha256).hexdigest()


def new_key(path: Path) -> EvaluatorKey:
    """Write a fresh key to `path` (32 bytes from the OS's CSPRNG, mode 600); never overwrites."""
    path = Path(path)
    if path.exists():
        raise ConfigError(f"{path} already exists; an evaluator key is never overwritten (choose another path)")
    if not path.parent.is_dir():
        raise ConfigError(f"{path.parent} is not a folder; create it first")
    secret = os.urandom(KEY_BYTES)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask may have cleared bits, never added them; make it exact
        os.write(fd, secret)
        os.fsync(fd)
    finally:
        os.close(fd)
    return EvaluatorKey(secret, str(path))


def load_key(path: str | os.PathLike) -> EvaluatorKey:
    """Read a key file; ConfigError (one line, saying how to make one) when missing, unreadable,
    readable by others or not 32 bytes."""
    path = Path(path)
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"evaluator key {path} is not a regular file; {HOW_TO_MAKE}")
        if st.st_mode & 0o077:
            raise ConfigError(f"evaluator key {path} has mode {stat.S_IMODE(st.st_mode):03o}: others may read it, "
                              f"so it is refused; run `chmod 600 {path}` (and make a new key if it was shared)")
        secret = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"evaluator key {path} does not exist; {HOW_TO_MAKE}") from None
    except PermissionError:
        raise ConfigError(f"evaluator key {path} cannot be read (permission denied); {HOW_TO_MAKE}") from None
    except OSError as exc:
        raise ConfigError(f"evaluator key {path} cannot be read ({exc.strerror or exc}); {HOW_TO_MAKE}") from None
    if len(secret) != KEY_BYTES:
        raise ConfigError(f"evaluator key {path} holds {len(secret)} bytes, not {KEY_BYTES}: it is not a cxrbench "
                          f"key; {HOW_TO_MAKE}")
    return EvaluatorKey(secret, str(path))


def key_from_options(path: str | os.PathLike | None) -> EvaluatorKey | None:
    """The key named by `--evaluator-key`, else by $CXRBENCH_EVALUATOR_KEY, else None (dev sets)."""
    chosen = path if path not in (None, "") else os.environ.get(KEY_ENV) or None
    return load_key(chosen) if chosen is not None else None
