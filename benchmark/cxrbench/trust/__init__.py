"""Numbers you can trust: the evaluator key, held-out eval populations and signed records.

- `keys`: the evaluator's secret (32 random bytes) and everything derived from it (HKDF-SHA256):
  held-out population seeds, opaque image ids, keyed fingerprints, the ed25519 signing key.
- `populations`: which eval populations a run scores on: the public `dev` ones, or the
  `held-out` ones that only the key holder can draw (phantom) or read (private CSV sets).
- `signing`: the evaluator's ed25519 signature over a record, checked field by field.
- `trusted`: the public keys a leaderboard store trusts.
- `baseline_arm`: the digest of a record's real-only baseline arm, compared with the evaluator's own.
"""
