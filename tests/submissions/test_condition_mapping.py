"""Condition rows → class ids, multi-hot vectors and report-style prompts (pure functions)."""

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from cxrbench.schema import PATHOLOGIES
from cxrbench.submissions.condition_mapping import ClassLabelMapping, PromptMapping, class_labels, prompts


def rows(*labels: dict, **meta) -> pd.DataFrame:
    base = {n: np.nan for n in PATHOLOGIES} | {"age": 67.0, "sex": "F", "race": "White", "view": "PA", "site": "site-a"}
    return pd.DataFrame([base | meta | row for row in labels])


def test_class_ids_follow_label_priority_and_the_default():
    mapping = ClassLabelMapping(encoding="class_id", labels=["No Finding", "Pleural Effusion", "Cardiomegaly"],
                                unused=[n for n in PATHOLOGIES if n not in ("No Finding", "Pleural Effusion", "Cardiomegaly")])
    table = rows({"Cardiomegaly": 1, "Pleural Effusion": 1}, {"Cardiomegaly": 1}, {"Edema": 1},
                 {"No Finding": 1, "Cardiomegaly": 1}, {"Cardiomegaly": -1})
    assert class_labels(table, mapping).tolist() == [1, 2, 0, 2, 0]
    assert mapping.default_class == 0  # the "No Finding" class
    uncertain_counts = mapping.model_copy(update={"uncertain_as": "positive"})
    assert class_labels(table, uncertain_counts).tolist()[-1] == 2


def test_multi_hot_vectors():
    labels = ["Edema", "Cardiomegaly"]
    mapping = ClassLabelMapping(encoding="multi_hot", labels=labels, unused=[n for n in PATHOLOGIES if n not in labels])
    out = class_labels(rows({"Cardiomegaly": 1}, {"Edema": 1, "Cardiomegaly": 0}, {"Edema": -1}), mapping)
    assert out.dtype == np.float32 and out.tolist() == [[0, 1], [1, 0], [0, 0]]


def test_class_id_mapping_needs_a_default_without_no_finding():
    with pytest.raises(ValidationError, match="needs default_class"):
        ClassLabelMapping(encoding="class_id", labels=["Edema"], unused=[n for n in PATHOLOGIES if n != "Edema"])


def test_report_style_default_prompt():
    table = rows({"Cardiomegaly": 1, "Pleural Effusion": 1, "Edema": -1, "Pneumothorax": 0},
                 {"No Finding": 1}, {"Fracture": 1}, sex="M", view="AP")
    table.loc[2, "age"] = np.nan
    table.loc[2, "view"] = "UNKNOWN"
    assert prompts(table, PromptMapping()) == [
        "AP chest radiograph of a 67-year-old man. Cardiomegaly and pleural effusion. Possible edema. No pneumothorax.",
        "AP chest radiograph of a 67-year-old man. No acute cardiopulmonary process.",
        "chest radiograph of a man. Fracture.",
    ]


def test_template_fields_and_options():
    mapping = PromptMapping(template="{positive} | {uncertain} | {negative} | {age} {sex} {race} {site}",
                            uncertain_as="positive", mention_negatives=False)
    text = prompts(rows({"Edema": -1, "Atelectasis": 1, "Fracture": 0}), mapping)[0]
    assert text == "edema, atelectasis | | fracture | 67 female White site-a"
    with pytest.raises(ValidationError, match=r"unknown field \{diagnosis\}"):
        PromptMapping(template="{diagnosis}")
    with pytest.raises(ValidationError, match="empty"):
        PromptMapping(template="a {} b")
