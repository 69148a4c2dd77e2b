"""The evaluator key file: made at mode 600, refused when loose or malformed, and what derives from it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cxrbench.errors import ConfigError
from cxrbench.trust.keys import KEY_ENV, derive, key_from_options, load_key, new_key


def test_new_key_is_32_private_bytes_and_never_overwritten(tmp_path):
    path = tmp_path / "k"
    key = new_key(path)
    assert path.stat().st_mode & 0o777 == 0o600 and len(path.read_bytes()) == 32
    assert load_key(path).secret == key.secret == path.read_bytes()
    assert key.secret.hex() not in repr(key)
    with pytest.raises(ConfigError, match="never overwritten"):
        new_key(path)
    assert new_key(tmp_path / "other").secret != key.secret  # fresh randomness per key


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_loose_permissions_are_refused(tmp_path, mode):
    path = tmp_path / "k"
    new_key(path)
    os.chmod(path, mode)
    with pytest.raises(ConfigError, match=rf"mode {mode:03o}: others may read it.*chmod 600"):
        load_key(path)


def test_missing_or_malformed_key_says_how_to_make_one(tmp_path):
    for path, why in ((tmp_path / "absent", "does not exist"), (tmp_path, "not a regular file")):
        with pytest.raises(ConfigError, match=rf"{why}.*cxrbench keys new PATH") as exc:
            load_key(path)
        assert "\n" not in str(exc.value)
    short = tmp_path / "short"
    short.write_bytes(b"x" * 16)
    short.chmod(0o600)
    with pytest.raises(ConfigError, match="holds 16 bytes, not 32"):
        load_key(short)


def test_environment_names_the_key_and_the_option_wins(tmp_path, monkeypatch):
    a, b = new_key(tmp_path / "a"), new_key(tmp_path / "b")
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert key_from_options(None) is None
    monkeypatch.setenv(KEY_ENV, str(tmp_path / "a"))
    assert key_from_options(None).secret == a.secret
    assert key_from_options(str(tmp_path / "b")).secret == b.secret


def test_derivations_are_hkdf_sha256_and_independent(tmp_path):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.hmac import HMAC

    key = new_key(tmp_path / "k")
    # RFC 5869 by hand (extract, then one expand block) equals the library's HKDF
    extract = HMAC(b"cxrbench evaluator key v1", hashes.SHA256())
    extract.update(key.secret)
    prk = extract.finalize()
    expand = HMAC(prk, hashes.SHA256())
    expand.update(b"purpose" + b"\x01")
    assert derive(key.secret, "purpose") == expand.finalize()
    seeds = {key.population_seed("phantom", s) for s in ("site-a", "site-b", "site-c")}
    assert len(seeds) == 3 and all(0 <= s < 2**63 for s in seeds)
    assert key.opaque_id("image", "x") != key.opaque_id("patient", "x")
    assert key.opaque_id("image", "x") == load_key(tmp_path / "k").opaque_id("image", "x")
    import hashlib

    assert key.fingerprint == hashlib.sha256(key.public_key).hexdigest()[:24]


def test_keys_cli_makes_shows_and_refuses(tmp_path):
    cli = [sys.executable, "-m", "cxrbench.cli"]
    made = subprocess.run([*cli, "keys", "new", str(tmp_path / "k")], capture_output=True, text=True)
    assert made.returncode == 0 and "public fingerprint" in made.stdout
    shown = subprocess.run([*cli, "keys", "show", str(tmp_path / "k"), "--name", "lab"], capture_output=True, text=True)
    assert shown.returncode == 0 and '"name": "lab"' in shown.stdout
    assert (tmp_path / "k").read_bytes().hex() not in shown.stdout
    os.chmod(tmp_path / "k", 0o644)
    refused = subprocess.run([*cli, "keys", "show", str(tmp_path / "k")], capture_output=True, text=True)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1 and "chmod 600" in refused.stderr


def test_evaluate_with_a_missing_key_is_one_line_and_runs_nothing(tmp_path):
    cli = [sys.executable, "-m", "cxrbench.cli", "evaluate", "submissions/noise", "--out", str(tmp_path / "runs"),
           "--evaluator-key", str(tmp_path / "absent.key")]
    from pathlib import Path

    out = subprocess.run(cli, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "does not exist; make one with `cxrbench keys new PATH`" in out.stderr
    assert not (tmp_path / "runs").exists()
