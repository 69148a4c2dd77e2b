"""Condition rows → what an off-the-shelf model takes: class ids, multi-hot vectors, or prompts.

A zero-code submission declares the mapping in `submission.yaml` (`diffusers.conditioning`);
these pure functions check it (before anything runs) and apply it to a batch of rows.

Prompt fields (`{name}` in a template):

| field | example |
|---|---|
| `findings` | `Cardiomegaly and pleural effusion. Possible edema. No pneumothorax.` |
| `positive`, `uncertain`, `negative` | comma lists in lower case (`cardiomegaly, pleural effusion`) |
| `patient` | `67-year-old woman` (`woman` without an age, `patient` without a sex) |
| `age`, `sex`, `race`, `site` | `67`, `female`, `White`, `site-a` (`unknown` when missing) |
| `view` | `PA`, `AP`, `lateral` (empty when unknown) |

The default template is report-style (the style of the MIMIC-CXR impressions that RoentGen-like
text-to-image models were trained on): `{view} chest radiograph of a {patient}. {findings}`.
"""

from __future__ import annotations

import string
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cxrbench.schema import PATHOLOGIES

DEFAULT_TEMPLATE = "{view} chest radiograph of a {patient}. {findings}"
PROMPT_FIELDS = ("findings", "positive", "uncertain", "negative", "patient", "age", "sex", "race", "view", "site")
NO_FINDING = "No Finding"
_SEX_WORDS = {"F": ("female", "woman"), "M": ("male", "man")}


def template_fields(template: str) -> list[str]:
    """The `{fields}` a template names (ValueError for a malformed template)."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


class PromptMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")
    template: str = DEFAULT_TEMPLATE
    negative_prompt: str | None = None
    #: how uncertain (-1) labels read: "possible X" (default), or as present / absent
    uncertain_as: Literal["possible", "positive", "negative"] = "possible"
    #: name absent (0) findings in the prompt ("No pneumothorax.")
    mention_negatives: bool = True

    @field_validator("template")
    @classmethod
    def _known_fields(cls, v: str) -> str:
        try:
            names = template_fields(v)
        except ValueError as exc:
            raise ValueError(f"template {v!r} is not a format string ({exc})") from None
        if any(n == "" for n in names):
            raise ValueError("template has an empty {} field; name one of: " + ", ".join(PROMPT_FIELDS))
        bad = [n for n in names if n not in PROMPT_FIELDS]
        if bad:
            raise ValueError(f"template names unknown field {{{bad[0]}}}; known: {', '.join(PROMPT_FIELDS)}")
        return v


class ClassLabelMapping(BaseModel):
    """`labels[i]` is what the model's class i (or vector entry i) means, as a cxrbench label name.

    Every cxrbench label must be either in `labels` or listed in `unused` (a model that cannot
    express a finding says so explicitly)."""

    model_config = ConfigDict(extra="forbid")
    encoding: Literal["class_id", "multi_hot"]
    labels: list[str] = Field(min_length=1)
    unused: list[str] = []
    #: class_id: the class for a row with none of `labels` positive (default: the "No Finding" class)
    default_class: int | None = Field(default=None, ge=0)
    #: class_id: the model's unconditional class, needed for classifier-free guidance
    null_class: int | None = Field(default=None, ge=0)
    #: how an uncertain (-1) label counts
    uncertain_as: Literal["negative", "positive"] = "negative"

    @model_validator(mode="after")
    def _every_label_mapped(self) -> "ClassLabelMapping":
        for field, names in (("labels", self.labels), ("unused", self.unused)):
            bad = [n for n in names if n not in PATHOLOGIES]
            if bad:
                raise ValueError(f"{field}: {bad[0]!r} is not a cxrbench label (labels: {', '.join(PATHOLOGIES)})")
        dup = sorted({n for n in self.labels + self.unused if (self.labels + self.unused).count(n) > 1})
        if dup:
            raise ValueError(f"label {dup[0]!r} is listed twice in labels/unused")
        missing = [n for n in PATHOLOGIES if n not in self.labels and n not in self.unused]
        if missing:
            raise ValueError(f"label mapping misses {missing[0]!r} ({len(missing)} label(s) missing): map it in "
                             f"`labels` or list it in `unused`")
        if self.encoding == "class_id":
            if self.default_class is None:
                if NO_FINDING not in self.labels:
                    raise ValueError("class_id mapping needs default_class (the class of a row with no mapped "
                                     f"finding positive) or {NO_FINDING!r} among labels")
                self.default_class = self.labels.index(NO_FINDING)
            if self.default_class >= self.n_classes:
                raise ValueError(f"default_class {self.default_class} is not one of the {self.n_classes} classes")
        elif self.default_class is not None or self.null_class is not None:
            raise ValueError("default_class and null_class are for encoding: class_id")
        return self

    @property
    def n_classes(self) -> int:
        return max(len(self.labels), (self.null_class or 0) + 1)


def _label_states(rows: pd.DataFrame, names: list[str]) -> np.ndarray:
    """float (N, len(names)) of 1 / 0 / -1 / NaN."""
    return rows[names].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)


def class_labels(rows: pd.DataFrame, mapping: ClassLabelMapping) -> np.ndarray:
    """class_id: int64 (N,), the first of `labels` positive in the row (else `default_class`);
    multi_hot: float32 (N, len(labels)), 1 where the label is positive."""
    states = _label_states(rows, mapping.labels)
    positive = (states == 1) | ((states == -1) & (mapping.uncertain_as == "positive"))
    if mapping.encoding == "multi_hot":
        return positive.astype(np.float32)
    # "No Finding" yields to any real finding in the same row
    if NO_FINDING in mapping.labels:
        j = mapping.labels.index(NO_FINDING)
        others = np.delete(positive, j, axis=1).any(axis=1)
        positive[:, j] &= ~others
    first = np.argmax(positive, axis=1)
    return np.where(positive.any(axis=1), first, mapping.default_class).astype(np.int64)


def _text(value, unknown: str = "unknown") -> str:
    return unknown if value is None or (isinstance(value, float) and np.isnan(value)) or pd.isna(value) else str(value)


def _join(names: list[str]) -> str:
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def prompt_fields(row: pd.Series, mapping: PromptMapping) -> dict[str, str]:
    """The template fields of one condition row."""
    present, possible, absent = [], [], []
    for name in PATHOLOGIES:
        if name == NO_FINDING:
            continue
        v = pd.to_numeric(row.get(name), errors="coerce")
        if v == -1:
            {"possible": possible, "positive": present, "negative": absent}[mapping.uncertain_as].append(name.lower())
        elif v == 1:
            present.append(name.lower())
        elif v == 0:
            absent.append(name.lower())
    sentences = []
    if present:
        sentences.append(_join(present).capitalize() + ".")
    if possible:
        sentences.append("Possible " + _join(possible) + ".")
    if mapping.mention_negatives and absent:
        sentences.append("No " + _join(absent) + ".")
    if not present and not possible:
        sentences.insert(0, "No acute cardiopulmonary process.")
    age = pd.to_numeric(row.get("age"), errors="coerce")
    age_text = "unknown" if pd.isna(age) else str(int(age))
    sex, noun = _SEX_WORDS.get(_text(row.get("sex")), ("unknown", "patient"))
    view = {"PA": "PA", "AP": "AP", "LATERAL": "lateral"}.get(_text(row.get("view")), "")  # unknown: left out
    return {
        "findings": " ".join(sentences), "positive": ", ".join(present), "uncertain": ", ".join(possible),
        "negative": ", ".join(absent), "patient": (f"{age_text}-year-old {noun}" if age_text != "unknown" else noun),
        "age": age_text, "sex": sex, "race": _text(row.get("race")), "view": view, "site": _text(row.get("site")),
    }


def prompts(rows: pd.DataFrame, mapping: PromptMapping) -> list[str]:
    """One prompt per condition row (whitespace collapsed)."""
    return [" ".join(mapping.template.format(**prompt_fields(row, mapping)).split()) for _, row in rows.iterrows()]
