import numpy as np
import pandas as pd
import pytest
import yaml

from cxrbench.data.sources import get_source
from cxrbench.errors import ConfigError, DataError, SchemaError
from cxrbench.schema import validate_canonical

from ..conftest import write_jpeg

MAPPING = {
    "name": "emory",
    "site": "emory",
    "image_root": "png",
    "columns": {"patient_id": "empi_anon", "path": "png_path", "image_id": "image_uid", "study_id": "acc_anon",
                "view": "ViewPosition", "sex": "gender", "age": "age_at_study", "race": "race"},
    "labels": {"Cardiomegaly": "cardiomegaly", "Pleural Effusion": "effusion"},
    "label_values": {"positive": 1, "negative": 0, "uncertain": -1},
}


@pytest.fixture
def emory(tmp_path):
    rng = np.random.default_rng(1)
    table = pd.DataFrame({
        "empi_anon": ["e1", "e1", "e2", "e3"],
        "acc_anon": ["a1", "a1", "a2", "a3"],
        "image_uid": ["u1", "u2", "u3", "u4"],
        "png_path": ["e1/a1/u1.png", "e1/a1/u2.png", "e2/a2/u3.png", "e3/a3/u4.png"],
        "ViewPosition": ["PA", "LL", "AP", "PA"],
        "gender": ["Female", "Female", "Male", ""],
        "age_at_study": ["71", "71", "45", ""],
        "race": ["African American  or Black", "African American  or Black", "Caucasian or White", "Asian"],
        "cardiomegaly": ["positive", "positive", "", "uncertain"],
        "effusion": ["0", "0", "1", "negative"],
    })
    csv = tmp_path / "emory.csv"
    table.to_csv(csv, index=False)
    for rel in table["png_path"]:
        write_jpeg((tmp_path / "png" / rel).with_suffix(".png"), rng)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(yaml.safe_dump(MAPPING))
    return csv, mapping


def test_hospital_export_through_a_mapping(emory):
    csv, mapping = emory
    source = get_source("csv", csv, mapping=mapping)
    assert source.name == "emory" and source.cache_namespace == "csv-emory"
    everything = source.rows(frontal_only=False)
    validate_canonical(everything)
    rows = source.rows()
    assert rows["image_id"].tolist() == ["u1", "u3", "u4"]
    assert rows["race"].tolist() == ["Black", "White", "Asian"]
    assert rows["sex"].tolist() == ["F", "M", "U"]
    assert rows["Cardiomegaly"].tolist()[0] == 1 and rows["Cardiomegaly"].tolist()[2] == -1
    assert np.isnan(rows["Cardiomegaly"].tolist()[1])
    assert rows["Pleural Effusion"].tolist() == [0, 1, 0]
    assert rows["Edema"].isna().all()  # not mapped → not mentioned
    assert (rows["site"] == "emory").all()
    assert source.load_batch(rows, 32).shape == (3, 32, 32)


def test_mapping_errors_name_the_field(emory, tmp_path):
    csv, mapping = emory
    bad = dict(MAPPING, labels={"Cardiomegally": "cardiomegaly"})
    mapping.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match=r"mapping.yaml: field 'labels': .*unknown label\(s\) \['Cardiomegally'\]"):
        get_source("csv", csv, mapping=mapping)
    missing = {k: v for k, v in MAPPING.items() if k != "columns"}
    mapping.write_text(yaml.safe_dump(missing))
    with pytest.raises(ConfigError, match="field 'columns': Field required"):
        get_source("csv", csv, mapping=mapping)
    with pytest.raises(ConfigError, match="needs a column mapping"):
        get_source("csv", csv)
    with pytest.raises(DataError, match="does not exist"):
        get_source("csv", tmp_path / "absent.csv", mapping=mapping)


def test_csv_errors_name_file_column_and_line(emory):
    csv, mapping = emory
    table = pd.read_csv(csv, dtype=str)
    table.loc[2, "effusion"] = "likely"
    table.to_csv(csv, index=False)
    with pytest.raises(SchemaError, match=r"emory.csv: column 'effusion' line 4 has label value 'likely'"):
        get_source("csv", csv, mapping=mapping).rows()
    table.loc[2, "effusion"] = "1"
    table.loc[3, "image_uid"] = "u1"
    table.to_csv(csv, index=False)
    with pytest.raises(SchemaError, match=r"duplicate image id \(column 'image_uid'\) 'u1' on lines \[2, 5\]"):
        get_source("csv", csv, mapping=mapping).rows()
    table.drop(columns="empi_anon").to_csv(csv, index=False)
    with pytest.raises(SchemaError, match="emory.csv: missing column 'empi_anon'"):
        get_source("csv", csv, mapping=mapping).rows()
