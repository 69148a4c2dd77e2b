"""Hugging Face Hub ids where a zero-code block takes a folder: resolved to a local snapshot by the parent.

```yaml
diffusers: {pipeline: "hf://org/name@revision", ...}    # instead of a pipeline folder in the submission
timm: {architecture: "hf-hub:org/name@revision", ...}    # timm's own spelling: config.json + model.safetensors
```

Before any sandbox starts, `resolve` asks `huggingface_hub.snapshot_download` for the snapshot
(honouring `HF_HUB_OFFLINE`: offline, only the local cache is read); the submission's hash then
covers the snapshot's commit and every one of its files, and the sandbox sees that snapshot
read-only. Code never reaches the network from the sandbox. A revision should be a commit hash
or a tag: a branch (`main`, the default) is resolved to its commit now, and the record's hash
follows that commit.

Every failure is one line naming the id and revision and what to do: a repository the Hub does not
know (or that is private), a revision that is not on it (moved or deleted), and, offline, a
snapshot that is not in the local cache (`hf download ...` fetches it where there is a network).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TypeGuard

from cxrbench.data.file_digest import update_with_file
from cxrbench.errors import SubmissionError

#: how a diffusers block names a Hub pipeline, and how timm itself names a Hub model
PREFIXES = ("hf://", "hf-hub:")
_REPO = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


@dataclass(frozen=True)
class HubRef:
    """`org/name` at `revision` (None: the default branch)."""

    repo_id: str
    revision: str | None = None

    def __str__(self) -> str:
        return f"{self.repo_id}@{self.revision or 'main'}"


def is_hub_id(value: str | None) -> TypeGuard[str]:
    return isinstance(value, str) and value.startswith(PREFIXES)


def parse(value: str) -> HubRef:
    """`hf://org/name@rev` or `hf-hub:org/name@rev` (ValueError says what a Hub id looks like)."""
    body = next(value[len(p):] for p in PREFIXES if value.startswith(p))
    repo, _, revision = body.partition("@")
    if not _REPO.match(repo) or (revision == "" and "@" in body):
        raise ValueError(f"{value!r} is not a Hub id: write {value[:len(value) - len(body)]}org/name@revision "
                         f"(a commit hash or tag)")
    return HubRef(repo, revision or None)


def checked(value: str) -> str:
    """A manifest field that may hold a Hub id: unchanged, or ValueError when it is a malformed one
    (the pydantic validator of `diffusers.pipeline` and `timm.architecture`)."""
    if is_hub_id(value):
        parse(value)
    return value


@dataclass(frozen=True)
class HubSnapshot:
    """A Hub id resolved to a snapshot in the local cache: its commit and its folder."""

    ref: HubRef
    commit: str
    folder: Path

    def files(self) -> list[Path]:
        """The snapshot's files (relative, sorted); the Hub cache keeps them as links into its blobs."""
        return sorted(p.relative_to(self.folder) for p in self.folder.rglob("*") if p.is_file())

    def update(self, h) -> None:
        """Feed the id, the commit and every file (path and bytes) to the hash `h`."""
        h.update(f"hub\0{self.ref.repo_id}\0{self.commit}\0".encode())
        for rel in self.files():
            h.update(str(rel).encode() + b"\0")
            update_with_file(h, self.folder / rel)
            h.update(b"\0")

    def digest(self) -> str:
        h = hashlib.sha256()
        self.update(h)
        return h.hexdigest()


def offline() -> bool:
    """`HF_HUB_OFFLINE`, read now (huggingface_hub reads it once, at import)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_cache() -> Path:
    """The Hub cache folder, from the environment now (`HF_HUB_CACHE`, `HF_HOME`/hub, else huggingface_hub's)."""
    from huggingface_hub import constants

    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]) / "hub"
    return Path(constants.HF_HUB_CACHE)


def fetch_hint(ref: HubRef) -> str:
    return f"`hf download {ref.repo_id} --revision {ref.revision or 'main'}`"


def cached_revisions(repo_id: str, cache_dir: Path | None = None) -> list[str]:
    """What the local Hub cache holds of a repository: `ref → commit` and bare commits."""
    repo = Path(cache_dir or hub_cache()) / f"models--{repo_id.replace('/', '--')}"
    refs = {p.name: p.read_text().strip() for p in (repo / "refs").glob("*") if p.is_file()}
    named = [f"{name} → {commit[:12]}" for name, commit in sorted(refs.items())]
    bare = sorted(p.name[:12] for p in (repo / "snapshots").glob("*") if p.name not in refs.values())
    return named + bare


def resolve(ref: HubRef, *, cache_dir: Path | None = None) -> HubSnapshot:
    """The local snapshot of `ref` (downloaded when online; SubmissionError, one line, otherwise)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    local_only, cache_dir = offline(), Path(cache_dir or hub_cache())
    try:
        folder = snapshot_download(ref.repo_id, revision=ref.revision, cache_dir=cache_dir, local_files_only=local_only)
    except RevisionNotFoundError:
        raise SubmissionError(f"{ref}: the Hub has no revision {ref.revision or 'main'!r} of {ref.repo_id} (moved or "
                              f"deleted?); pin a commit hash or a tag that exists") from None
    except GatedRepoError:
        raise SubmissionError(f"{ref}: {ref.repo_id} is gated on the Hub; accept its terms and log in (`hf auth "
                              f"login`), then fetch it with {fetch_hint(ref)}") from None
    except RepositoryNotFoundError:
        raise SubmissionError(f"{ref}: the Hub has no repository {ref.repo_id} (or it is private: log in with `hf auth "
                              f"login`)") from None
    except LocalEntryNotFoundError:
        have = cached_revisions(ref.repo_id, cache_dir)
        where = ("the Hub is offline (HF_HUB_OFFLINE is set)" if local_only
                 else "the Hub could not be reached")
        cached = f"; the cache holds {', '.join(have)}" if have else ""
        raise SubmissionError(f"{ref}: no local snapshot of {ref.repo_id} at revision {ref.revision or 'main'!r} and "
                              f"{where}{cached}; fetch it with {fetch_hint(ref)} where there is a network") from None
    except (HfHubHTTPError, OSError) as exc:
        raise SubmissionError(f"{ref}: cannot be fetched ({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); "
                              f"fetch it with {fetch_hint(ref)}, or set HF_HUB_OFFLINE=1 to use the local cache") from None
    path = Path(folder)
    return HubSnapshot(ref=ref, commit=path.name, folder=path)
