"""The evaluator's ed25519 signature over a record, checked field by field.

A sealed record's `content_sha256` proves integrity, not authorship: anyone can edit and reseal.
The evaluator that computed a record signs it (`cryptography`'s Ed25519): the signed message is
the canonical JSON of {algorithm, public_key, fields}, where `fields` maps every top-level field
of the sealed record (`content_sha256` included) to the sha256 of its canonical JSON. A verifier
checks the signature over that map, then recomputes each field's digest: an edit names the field
it touched, and an edit of the map itself breaks the signature.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Literal

from cxrbench.results import ENVELOPE, RecordSignature, ResultRecord, drop_later_fields
from cxrbench.trust.keys import EvaluatorKey, public_fingerprint


def _canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def field_digests(record: ResultRecord) -> dict[str, str]:
    """sha256 of each top-level field's canonical JSON (the signature envelope left out)."""
    payload = drop_later_fields(record, record.model_dump(mode="json"))  # as its own schema version holds it
    return {name: hashlib.sha256(_canonical(value)).hexdigest()
            for name, value in payload.items() if name not in ENVELOPE or name == "content_sha256"}


def _message(algorithm: str, public_key: str, fields: dict[str, str]) -> bytes:
    return _canonical({"algorithm": algorithm, "public_key": public_key, "fields": fields})


def sign_record(record: ResultRecord, key: EvaluatorKey) -> ResultRecord:
    """Sign a sealed record in place (its `signature` envelope); returns it."""
    if not record.content_sha256:
        raise ValueError("seal the record before signing it")
    fields = field_digests(record)
    public = key.public_key_b64
    signature = key.signing_key.sign(_message("ed25519", public, fields))
    record.signature = RecordSignature(public_key=public, key_fingerprint=key.fingerprint, fields=fields,
                                       signature=base64.b64encode(signature).decode())
    return record


@dataclass(frozen=True)
class SignatureCheck:
    """What a record's signature says: `unsigned`, `valid` (by `public_key`) or `invalid` (`problem`)."""

    status: Literal["unsigned", "valid", "invalid"]
    fingerprint: str | None = None
    public_key: str | None = None  # base64, as the record carries it
    problem: str | None = None


def check_signature(record: ResultRecord) -> SignatureCheck:
    """Verify `record.signature`; `invalid` names the field that changed when it can."""
    sig = record.signature
    if sig is None:
        return SignatureCheck("unsigned")
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        raw = base64.b64decode(sig.public_key, validate=True)
        public = Ed25519PublicKey.from_public_bytes(raw)
        signature = base64.b64decode(sig.signature, validate=True)
    except ValueError:
        return SignatureCheck("invalid", sig.key_fingerprint, sig.public_key,
                              "the signature or its public key is not valid base64 ed25519 data")
    fingerprint = public_fingerprint(raw)
    if fingerprint != sig.key_fingerprint:
        return SignatureCheck("invalid", fingerprint, sig.public_key,
                              f"key_fingerprint {sig.key_fingerprint} is not the fingerprint of its public key "
                              f"({fingerprint})")
    try:
        public.verify(signature, _message(sig.algorithm, sig.public_key, sig.fields))
    except InvalidSignature:
        return SignatureCheck("invalid", fingerprint, sig.public_key,
                              "the signature does not match its signed field digests (they were edited)")
    current = field_digests(record)
    for name, digest in current.items():
        if sig.fields.get(name) != digest:
            what = "was added after signing" if name not in sig.fields else "changed after it was signed"
            return SignatureCheck("invalid", fingerprint, sig.public_key, f"field `{name}` {what}")
    gone = sorted(set(sig.fields) - set(current))
    if gone:
        return SignatureCheck("invalid", fingerprint, sig.public_key, f"field `{gone[0]}` was removed after signing")
    return SignatureCheck("valid", fingerprint, sig.public_key)
