"""What a model learned from: the real training population a submission declares, and how it
compares with the real rows a task gives its classifier.

A generator that saw more real patients than the classifier it supplements can help through
those patients rather than through synthesis, so every record carries the declared population
and a group (`population_group`), and the leaderboard ranks "more real data" apart where a task
says so. On the phantom the declaration is checked (`phantom_split_size`): its populations are
public functions of a size, so cxrbench knows how many patients each split holds.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: splits a model may learn from; a test split is what it is scored on
LEARNABLE_SPLITS = ("train", "val")
_KEY = re.compile(r"^(?P<source>[a-z0-9_-]+)/(?P<site>[^/\s]+)/(?P<split>[a-z]+)$")
EXAMPLE = ("training_data: [{data: phantom/site-a/train, patients: 712, population: 1000}] "
           "(or training_data: [] for a model that learned from no real data)")

Group = Literal["task rows", "more real data", "outside bounds", "no real data"]
#: groups ranked with everything else; "more real data" is ranked apart where a task says so
SEPARATE_GROUP = "more real data"


def check_data_key(key: str) -> str:
    """`key` as `source/site/split` with a split a model may learn from; ValueError otherwise."""
    m = _KEY.match(key)
    if not m:
        raise ValueError(f"{key!r} is not source/site/split (e.g. phantom/site-a/train)")
    if m["split"] == "test":
        raise ValueError(f"{key}: a test split; a model may not learn from the patients it is scored on")
    if m["split"] not in LEARNABLE_SPLITS:
        raise ValueError(f"{key}: split {m['split']!r} is not one a model may learn from ({', '.join(LEARNABLE_SPLITS)})")
    return key


class TrainingSource(BaseModel):
    """One slice of real data a model learned from, as its submitter declares it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: str  # source/site/split, e.g. phantom/site-a/train
    patients: int = Field(ge=1)  # distinct real patients it saw
    images: int | None = Field(default=None, ge=1)
    #: phantom: the size of the population the split was drawn from (`--n-patients`)
    population: int | None = Field(default=None, ge=1)

    @field_validator("data")
    @classmethod
    def _data(cls, v: str) -> str:
        return check_data_key(v)

    @model_validator(mode="after")
    def _phantom(self) -> "TrainingSource":
        if self.source == "phantom" and self.population is None:
            raise ValueError(f"{self.data}: name the phantom population it was drawn from, e.g. population: 1000 "
                             f"(the --n-patients of `cxrbench train-generator`)")
        return self

    @property
    def source(self) -> str:
        return self.data.split("/")[0]

    @property
    def site(self) -> str:
        return self.data.split("/")[1]

    @property
    def split(self) -> str:
        return self.data.split("/")[2]

    def describe(self) -> str:
        images = f", {self.images:,} images" if self.images else ""
        population = f" of a {self.population:,}-patient population" if self.population else ""
        return f"{self.data}: {self.patients:,} patients{images}{population}"


@lru_cache(maxsize=32)
def phantom_split_size(site: str, population: int, split: str) -> tuple[int, int]:
    """(patients, frontal images) in `split` of the phantom site's population of `population` patients."""
    from cxrbench.data.sources import get_source
    from cxrbench.data.splits import split_rows

    rows = split_rows(get_source("phantom", site=site, n_patients=population).rows(frontal_only=True))[split]
    return int(rows["patient_id"].nunique()), len(rows)


def check_declared(entry: TrainingSource) -> str | None:
    """Why a declaration cannot be true, where cxrbench can tell (the phantom), or None."""
    if entry.source != "phantom":
        return None
    patients, images = phantom_split_size(entry.site, int(entry.population or 0), entry.split)
    if entry.patients > patients:
        return (f"{entry.data}: declares {entry.patients:,} patients, but that split of a "
                f"{entry.population:,}-patient phantom population holds {patients:,}")
    if entry.images is not None and entry.images > images:
        return (f"{entry.data}: declares {entry.images:,} images, but that split of a "
                f"{entry.population:,}-patient phantom population holds {images:,}")
    return None


def population_group(declared: list[TrainingSource], declared_keys: list[str], allowed: list[str],
                     task_patients: int | None) -> Group | None:
    """Where a submission stands against a task's own real rows (`allowed` keys, `task_patients` patients).

    `declared_keys` holds every declared key, also those without counts (None when a count is missing)."""
    if not declared_keys:
        return "no real data"
    if any(key not in allowed for key in declared_keys):
        return "outside bounds"
    if len(declared) < len(declared_keys) or task_patients is None:
        return None  # some entry gives no patient count: nothing to compare
    if sum(d.patients for d in declared) > task_patients:
        return "more real data"
    return "task rows"
