"""The options of one `evaluate` call (what the CLI's flags set)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cxrbench.trust.populations import EvalPopulation


@dataclass
class RunOptions:
    budget: str = "quick"
    seeds: list[int] | None = None
    out_dir: Path = Path("runs")
    cache_root: Path | None = None
    force: bool = False
    device: str = "cpu"
    #: the data profile (`phantom`, `chexpert`, ...): which tasks run by default
    profile: str = "phantom"
    #: CPU threads for training and for submissions' processes. On a CPU one thread is the default:
    #: a second one makes these small models 5-10x slower whenever anything else runs (measured).
    threads: int | None = 1
    #: reference-recipe runs trained at once, each in its own process (`threads` threads each); the
    #: predictions are the same for any value (each run is seeded and single-process)
    jobs: int = 1
    #: run submission code without bubblewrap (`--unsafe-no-sandbox`); records say "isolation: none"
    unsafe_no_sandbox: bool = False
    #: who runs the plan's jobs: `local` (this process, `jobs` training processes) or `ray`
    executor: str = "local"
    #: Ray cluster to join (`auto`, HOST:PORT); None starts a local Ray instance of `ray_workers` CPUs (0 = all)
    address: str | None = None
    ray_workers: int = 0
    #: the eval populations (public dev sets, or held-out ones from an evaluator key) and the key
    #: that signs the records (`cxrbench.trust`)
    population: EvalPopulation = field(default_factory=EvalPopulation)
    #: `--limit N`: a smoke test on at most N images per set (whole patients), records marked
    #: `smoke_limit` and written beside real ones (never publishable)
    limit: int | None = None
    #: the audit's feature space (`cxrbench.audit.spaces`; None: the profile's default) and its weights
    audit_features: str | None = None
    feature_weights: str | None = None
