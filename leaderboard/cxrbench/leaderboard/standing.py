"""Where a record stands: `verified` or `self-reported`, and which eval population it was scored on.

`verified` needs both: the record's signature checks against a key the store trusts
(`trusted_keys.json`), and it was scored on that key's held-out eval sets. Everything else is
`self-reported`: unsigned records, records signed by a key the store does not trust (named by its
fingerprint), and every record scored on the public dev sets, which anyone can reproduce and
therefore anyone can fit. Held-out populations differ per key, so records are compared only
within one population (`dev`, or `held-out:<key fingerprint>`): one leaderboard board each.
"""

from __future__ import annotations

from dataclasses import dataclass

from cxrbench.leaderboard.trusted_keys import TrustedKeys
from cxrbench.results import ResultRecord
from cxrbench.trust.signing import SignatureCheck

VERIFIED, SELF_REPORTED = "verified", "self-reported"


def population_of(record: ResultRecord) -> str:
    """`dev`, or `held-out:<key fingerprint>` (the population a record's numbers are about)."""
    ev = record.evaluation
    return "dev" if ev.eval_sets == "dev" else f"held-out:{ev.evaluator_key}"


@dataclass(frozen=True)
class Standing:
    standing: str  # verified | self-reported
    population: str  # dev | held-out:<fingerprint>
    signer: str | None  # fingerprint of a valid signature's key
    signer_name: str | None  # the trusted key's name, when trusted
    reason: str  # one line: why it stands where it does


def standing_of(record: ResultRecord, check: SignatureCheck, trusted: TrustedKeys) -> Standing:
    """The standing of a record whose signature was checked (`check.status` must not be `invalid`)."""
    valid = check.status == "valid"
    return judge(population_of(record), check.public_key if valid else None, check.fingerprint if valid else None,
                 trusted)


def judge(population: str, signer_key: str | None, signer: str | None, trusted: TrustedKeys) -> Standing:
    """The standing of a record of `population` validly signed by `signer_key` (None: unsigned)."""
    if signer_key is None:
        return Standing(SELF_REPORTED, population, None, None, "unsigned: no evaluator vouches for it")
    key = trusted.by_public_key().get(signer_key)
    if key is None:
        return Standing(SELF_REPORTED, population, signer, None,
                        f"signed by key {signer}, which this leaderboard does not trust")
    if population == "dev":
        return Standing(SELF_REPORTED, population, signer, key.name,
                        f"signed by {key.name} ({key.fingerprint}) but scored on the public dev sets")
    if population != f"held-out:{key.fingerprint}":
        return Standing(SELF_REPORTED, population, signer, key.name,
                        f"signed by {key.name} ({key.fingerprint}) but scored on the held-out sets of another key "
                        f"({population.removeprefix('held-out:')})")
    return Standing(VERIFIED, population, signer, key.name, f"held-out sets, signed by {key.name} ({key.fingerprint})")
