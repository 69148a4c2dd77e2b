"""The reproducibility contract (`docs/reproducibility.md`), as data and one check.

Same task, submission, seeds, machine and software → identical bytes (predictions, records'
numbers). Another CPU model, instruction set or thread count → each figure within seed noise:
the last bits of every training step differ there, and training amplifies them as a new seed
would, so two such records agree when a figure's difference is within what the records' own
seed spreads explain (`tolerance`). `check(a, b)` compares two records of the same submission on
the same task and names every figure beyond its tolerance, with both values and both
environments; `cxrbench compare` and `cxrbench publish` print it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

from scipy.stats import t as student_t

from cxrbench.results import Environment, ResultRecord

#: two records of other settings differ in a figure beyond seed noise when a Welch t-test on their
#: seed spreads rejects at this level: 1 % false alarms where the setting acts like new seeds, fewer
#: where it moves a run less (measured: docs/reproducibility.md, "Measured spread")
SEED_NOISE_ALPHA = 0.01
#: never tighter than this (AUROC units): figures of arms with tiny seed spreads
AUROC_FLOOR = 0.002
#: uint8 images (synthetic sets, golden samples) across instruction sets: at most this many grey levels ...
GREY_LEVELS = 1
#: ... on at least this share of pixels
PIXEL_SHARE = 0.999

#: environment fields that decide the last bits of a run (hardware keys, then library versions)
HARDWARE_KEYS = ("cpu_model", "isa", "torch_threads", "gpu")
LIBRARIES = ("torch", "numpy", "diffusers")


@dataclass(frozen=True)
class SeedMean:
    """A figure as a mean over training seeds: its value, the variance of that mean from the spread
    over seeds (None: unknown, e.g. one seed), and the number of seeds."""

    value: float
    variance: float | None
    seeds: int


def tolerance(a: SeedMean, b: SeedMean, alpha: float = SEED_NOISE_ALPHA) -> float | None:
    """Largest |a − b| that seed noise explains: t(1 − α/2, Welch–Satterthwaite dof) · √(va + vb),
    at least AUROC_FLOOR; None when a spread is unknown (fewer than 2 seeds in a record)."""
    if a.variance is None or b.variance is None or a.seeds < 2 or b.seeds < 2:
        return None
    total = a.variance + b.variance
    if total <= 0:
        return AUROC_FLOOR
    dof = total ** 2 / (a.variance ** 2 / (a.seeds - 1) + b.variance ** 2 / (b.seeds - 1))
    return max(AUROC_FLOOR, float(student_t.ppf(1 - alpha / 2, dof)) * math.sqrt(total))


def paired_tolerance(a: Sequence[float], b: Sequence[float], alpha: float = SEED_NOISE_ALPHA) -> float | None:
    """Largest |mean(a) − mean(b)| that the setting's noise explains for the same seeds run twice
    (a[i] and b[i] share seed i): a paired t-test on the per-seed differences, at least AUROC_FLOOR;
    None with fewer than 2 seeds."""
    if len(a) != len(b) or len(a) < 2:
        return None
    diffs = [x - y for x, y in zip(a, b)]
    mean = sum(diffs) / len(diffs)
    var = sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1) / len(diffs)
    return max(AUROC_FLOOR, float(student_t.ppf(1 - alpha / 2, len(diffs) - 1)) * math.sqrt(var))


@dataclass(frozen=True)
class Difference:
    figure: str  # e.g. "internal_test Δ vs phantom/supplement-0 (primary)"
    a: float
    b: float
    tolerance: float | None  # None: a record has one seed, seed noise cannot be told from a change

    @property
    def beyond(self) -> bool:
        return self.tolerance is not None and self.size > self.tolerance

    @property
    def size(self) -> float:
        return abs(self.a - self.b)


@dataclass
class Reproduction:
    """How two records of one submission on one task agree."""

    a: ResultRecord
    b: ResultRecord
    identical_predictions: bool
    same_setting: bool  # same CPU, ISA, threads and library versions: identical bytes expected
    beyond: list[Difference] = field(default_factory=list)  # figures beyond their tolerance
    unjudged: list[Difference] = field(default_factory=list)  # figures whose seed spread is unknown
    largest: Difference | None = None
    primary: Difference | None = None  # the primary endpoint's Δ of both

    @property
    def ok(self) -> bool:
        return self.identical_predictions or (not self.same_setting and not self.beyond)

    def lines(self) -> list[str]:
        """What a reader needs: the verdict, and per differing figure both values and environments."""
        env_a, env_b = describe(self.a.environment), describe(self.b.environment)
        if self.identical_predictions:
            return ["identical predictions: the two runs reproduce each other byte for byte"]
        if self.same_setting and not self.beyond:
            return [f"different predictions from the same CPU, instruction set, threads and libraries ({env_a}): "
                    "same machine and software should give identical bytes"]
        unjudged = ([f"{len(self.unjudged)} figure(s) not judged ({self.unjudged[0].figure}, ...): a record has one "
                     "seed, so seed noise cannot be told from a change"] if self.unjudged else [])
        if not self.beyond:
            big, first = self.largest, self.primary
            worst = (f" (largest difference {big.size:.4f}, {big.figure}, tolerance {big.tolerance:.4f})"
                     if big and big.tolerance is not None else "")
            row = (f"; primary Δ {first.a:+.4f} vs {first.b:+.4f} (tolerance ±{first.tolerance:.4f})"
                   if first and first.tolerance is not None else "")
            return [f"within seed noise{worst}{row}: {env_a} vs {env_b}", *unjudged]
        return [f"{d.figure}: {d.a:.4f} ({env_a}) vs {d.b:.4f} ({env_b}): differs by {d.size:.4f}, beyond the "
                f"±{d.tolerance:.4f} that seed noise explains across CPUs, instruction sets or thread counts"
                for d in self.beyond] + unjudged


def figures(record: ResultRecord) -> dict[str, SeedMean]:
    """The figures the contract covers, by name: macro AUROC per eval set (seed mean, with its
    spread over seeds) and Δ per comparison (with its seed variance)."""
    out: dict[str, SeedMean] = {}
    for s in record.eval_sets:
        if s.macro_auroc is None:
            continue
        seeds = [v for v in s.per_seed_macro_auroc if v is not None]
        var = s.seed_sd ** 2 / len(seeds) if s.seed_sd is not None and len(seeds) > 1 else None
        out[f"{s.eval_set} macro AUROC"] = SeedMean(float(s.macro_auroc), var, len(seeds))
    for c in record.comparisons:
        if c.delta is None:
            continue
        out[f"{c.eval_set} Δ vs {c.against} ({c.endpoint})"] = SeedMean(float(c.delta), c.var_seed, c.n_seeds)
    return out


def setting(env: Environment) -> tuple | None:
    """What must be equal for identical bytes: CPU, ISA, threads and library versions (None: a
    record written before the CPU model and ISA were recorded, whose setting is unknown)."""
    if not (env.hardware.get("cpu_model") and env.hardware.get("isa")):
        return None
    return (tuple(env.hardware.get(k) for k in HARDWARE_KEYS), tuple(env.libraries.get(k) for k in LIBRARIES))


def describe(env: Environment) -> str:
    """One line: `AMD EPYC, AVX512, 1 thread, torch 2.14.1, numpy 2.4.6, diffusers 0.42.1`
    (records written before these fields existed say what they lack)."""
    hw = env.hardware
    threads = hw.get("torch_threads")
    parts = [str(hw.get("cpu_model") or f"CPU model not recorded ({hw.get('machine', '?')})"),
             str(hw.get("isa") or "ISA not recorded"),
             f"{threads} thread{'s' if threads != 1 else ''}" if threads is not None else "threads not recorded"]
    if hw.get("gpu"):
        parts.append(str(hw["gpu"]))
    parts += [f"{lib} {env.libraries[lib]}" for lib in LIBRARIES if env.libraries.get(lib)]
    return ", ".join(parts)


def same_submission(a: ResultRecord, b: ResultRecord) -> bool:
    """Two runs of one submission (same files) on one task at one budget."""
    return (a.submission.name == b.submission.name and a.submission.sha256 == b.submission.sha256
            and a.task.name == b.task.name
            and a.task.version == b.task.version and a.task.budget == b.task.budget and a.seeds == b.seeds)


def check(a: ResultRecord, b: ResultRecord) -> Reproduction:
    """How `a` and `b` (two records of the same submission, `same_submission`) agree."""
    identical = bool(a.predictions_sha256) and a.predictions_sha256 == b.predictions_sha256
    fa, fb = figures(a), figures(b)
    diffs = [Difference(name, fa[name].value, fb[name].value, tolerance(fa[name], fb[name]))
             for name in fa if name in fb]
    beyond = [d for d in diffs if d.beyond]
    unjudged = [d for d in diffs if d.tolerance is None]
    largest = max(diffs, key=lambda d: d.size / d.tolerance if d.tolerance else 0.0, default=None)
    primary = next((d for d in diffs if d.figure.endswith("(primary)")), None)
    same = setting(a.environment) is not None and setting(a.environment) == setting(b.environment)
    return Reproduction(a, b, identical, same, beyond, unjudged, largest, primary)
