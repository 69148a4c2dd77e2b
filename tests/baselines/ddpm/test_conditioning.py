import numpy as np
import pandas as pd
import pytest

from cxrbench.baselines.ddpm.conditioning import CONDITION_DIM, CONDITION_FEATURES, encode_conditions
from cxrbench.errors import SchemaError
from cxrbench.schema import PATHOLOGIES

from .ddpm_helpers import condition_table


def _row(**overrides) -> pd.DataFrame:
    row = {c: np.nan for c in PATHOLOGIES} | {"age": 57.0, "sex": "F", "race": "Black", "view": "AP", "site": "site-a"}
    row.update(overrides)
    return pd.DataFrame([row])


def _feature(vec, name):
    return float(vec[0, CONDITION_FEATURES.index(name)])


def test_layout_of_one_row():
    vec = encode_conditions(_row(**{"Cardiomegaly": 1.0, "Edema": -1.0, "Fracture": 0.0})).numpy()
    assert vec.shape == (1, CONDITION_DIM) == (1, 54)
    assert _feature(vec, "Cardiomegaly=positive") == 1 and _feature(vec, "Cardiomegaly=negative") == 0
    assert _feature(vec, "Edema=uncertain") == 1 and _feature(vec, "Edema=positive") == 0
    assert _feature(vec, "Fracture=negative") == 1
    # not mentioned (NaN) → all three indicators zero
    assert [_feature(vec, f"Pneumonia={s}") for s in ("positive", "uncertain", "negative")] == [0, 0, 0]
    assert _feature(vec, "age_decades/10") == pytest.approx(0.5)  # 57 → 5th decade
    assert _feature(vec, "age_missing") == 0
    assert _feature(vec, "sex=F") == 1 and _feature(vec, "sex=M") == 0
    assert _feature(vec, "race=Black") == 1 and _feature(vec, "view=AP") == 1
    # every row has exactly one state per mentioned label
    assert vec.sum() == pytest.approx(3 + 0.5 + 1 + 1 + 1)


def test_unknown_groups_and_missing_age_encode_as_zeros():
    vec = encode_conditions(_row(sex="U", race="Other/Unknown", view="UNKNOWN", age=np.nan)).numpy()
    assert _feature(vec, "age_missing") == 1 and _feature(vec, "age_decades/10") == 0
    sex_race_view = [i for i, f in enumerate(CONDITION_FEATURES) if f.split("=")[0] in ("sex", "race", "view")]
    assert vec[0, sex_race_view].sum() == 0


def test_many_rows_stay_aligned():
    df = condition_table(50, seed=3)
    vec = encode_conditions(df).numpy()
    for i in (0, 17, 49):
        assert np.array_equal(vec[i], encode_conditions(df.iloc[[i]]).numpy()[0])


@pytest.mark.parametrize("column", ["Edema", "age", "sex", "race", "view"])
def test_missing_column_is_named(column):
    with pytest.raises(SchemaError, match=column):
        encode_conditions(_row().drop(columns=[column]))


@pytest.mark.parametrize("overrides,match", [
    ({"Edema": 2.0}, "'Edema' row 0 has label value 2"),
    ({"Edema": "yes"}, "'Edema' row 0"),
    ({"age": -3.0}, "'age' row 0"),
    ({"age": 300.0}, "'age' row 0"),
    ({"age": "old"}, "'age' row 0"),
    ({"sex": "X"}, "'sex' row 0 has 'X'"),
    ({"race": "Martian"}, "'race' row 0"),
    ({"view": "LL"}, "'view' row 0"),
])
def test_out_of_range_values_are_named(overrides, match):
    with pytest.raises(SchemaError, match=match):
        encode_conditions(_row(**overrides))
