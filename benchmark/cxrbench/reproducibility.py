"""The reproducibility contract (`docs/reproducibility.md`), as data and one check.

Same task, submission, seeds, machine and software → identical bytes (predictions, records'
numbers). Another CPU model, instruction set or thread count → each figure within its tolerance
below. `check(a, b)` compares two records of the same submission on the same task and names
every figure that differs by more than its tolerance, with both values and both environments;
`cxrbench compare` and `cxrbench publish` print it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cxrbench.results import Environment, ResultRecord

#: macro AUROC (seed mean, per eval set) and Δ macro AUROC (per comparison) across CPUs, instruction
#: sets and thread counts: one run's spread measured 0.0011 (`scripts/reproducibility.py`)
AUROC_TOLERANCE = 0.002
#: uint8 images (synthetic sets, golden samples) across instruction sets: at most this many grey levels ...
GREY_LEVELS = 1
#: ... on at least this share of pixels
PIXEL_SHARE = 0.999

#: environment fields that decide the last bits of a run (hardware keys, then library versions)
HARDWARE_KEYS = ("cpu_model", "isa", "torch_threads", "gpu")
LIBRARIES = ("torch", "numpy", "diffusers")


@dataclass(frozen=True)
class Difference:
    figure: str  # e.g. "internal_test Δ vs phantom/supplement-0 (primary)"
    a: float
    b: float
    tolerance: float

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
        if not self.beyond:
            big, first = self.largest, self.primary
            worst = f" (largest difference {big.size:.4f}, {big.figure})" if big else ""
            row = f"; primary Δ {first.a:+.4f} vs {first.b:+.4f}" if first else ""
            return [f"within tolerance{worst}{row}: {env_a} vs {env_b}"]
        return [f"{d.figure}: {d.a:.4f} ({env_a}) vs {d.b:.4f} ({env_b}): differs by {d.size:.4f}, beyond the "
                f"{d.tolerance:g} tolerance for another CPU, instruction set or thread count" for d in self.beyond]


def figures(record: ResultRecord) -> dict[str, float]:
    """The figures the contract covers, by name: macro AUROC per eval set, Δ per comparison."""
    out = {f"{s.eval_set} macro AUROC": s.macro_auroc for s in record.eval_sets}
    out.update({f"{c.eval_set} Δ vs {c.against} ({c.endpoint})": c.delta for c in record.comparisons})
    return {name: float(value) for name, value in out.items() if value is not None}


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
    diffs = [Difference(name, fa[name], fb[name], AUROC_TOLERANCE) for name in fa if name in fb]
    beyond = [d for d in diffs if d.size > d.tolerance]
    largest = max(diffs, key=lambda d: d.size, default=None)
    primary = next((d for d in diffs if d.figure.endswith("(primary)")), None)
    same = setting(a.environment) is not None and setting(a.environment) == setting(b.environment)
    return Reproduction(a, b, identical, same, beyond, largest, primary)
