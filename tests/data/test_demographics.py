import pandas as pd
import pytest

from cxrbench.data.demographics import race_group, race_groups, sex_codes, view_codes


@pytest.mark.parametrize("raw, group", [
    # CheXpert PRIMARY_RACE spellings
    ("White", "White"), ("White, non-Hispanic", "White"), ("White or Caucasian", "White"),
    ("Black or African American", "Black"), ("Black, Hispanic", "Black"),
    ("Asian", "Asian"), ("Asian, non-Hispanic", "Asian"), ("Asian - Historical Conv", "Asian"),
    ("Native Hawaiian or Other Pacific Islander", "Pacific Islander"), ("Pacific Islander, non-Hispanic", "Pacific Islander"),
    ("American Indian or Alaska Native", "American Indian/Alaska Native"),
    ("Native American, non-Hispanic", "American Indian/Alaska Native"),
    ("Other", "Other/Unknown"), ("Unknown", "Other/Unknown"), ("Patient Refused", "Other/Unknown"),
    ("Race and Ethnicity Unknown", "Other/Unknown"), ("", "Other/Unknown"), (None, "Other/Unknown"),
    # MIMIC-IV race spellings
    ("WHITE - RUSSIAN", "White"), ("BLACK/AFRICAN AMERICAN", "Black"), ("ASIAN - CHINESE", "Asian"),
    ("AMERICAN INDIAN/ALASKA NATIVE", "American Indian/Alaska Native"),
    ("NATIVE HAWAIIAN OR OTHER PACIFIC ISLANDER", "Pacific Islander"),
    ("HISPANIC/LATINO - PUERTO RICAN", "Other/Unknown"), ("UNABLE TO OBTAIN", "Other/Unknown"),
    ("PATIENT DECLINED TO ANSWER", "Other/Unknown"), ("MULTIPLE RACE/ETHNICITY", "Other/Unknown"),
    # hospital exports: "Caucasian" contains "asian" but is not Asian
    ("Caucasian or White", "White"), ("Caucasian", "White"), ("African American  or Black", "Black"),
])
def test_race_groups(raw, group):
    assert race_group(raw) == group


def test_vectorised_helpers():
    assert race_groups(pd.Series(["White", None, "Asian"])).tolist() == ["White", "Other/Unknown", "Asian"]
    assert sex_codes(pd.Series(["Female", "M", "male", "Unknown", ""])).tolist() == ["F", "M", "M", "U", "U"]
    assert view_codes(pd.Series(["PA", "ap", "LL", "LATERAL", "AP AXIAL", ""])).tolist() == [
        "PA", "AP", "LATERAL", "LATERAL", "UNKNOWN", "UNKNOWN"]
