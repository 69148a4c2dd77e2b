"""Label maps: which cxrbench label each output of a classifier predicts, and what a task scores."""

from __future__ import annotations

import pytest

from cxrbench.schema import LABEL_SETS, PATHOLOGIES
from cxrbench.submissions.label_map import TORCHXRAYVISION, check_label_map, output_labels, scored_labels

#: torchxrayvision's 18 outputs in its own order (xrv.datasets.default_pathologies)
XRV = ["Atelectasis", "Consolidation", "Infiltration", "Pneumothorax", "Edema", "Emphysema", "Fibrosis", "Effusion",
       "Pneumonia", "Pleural_Thickening", "Cardiomegaly", "Nodule", "Mass", "Hernia", "Lung Lesion", "Fracture",
       "Lung Opacity", "Enlarged Cardiomediastinum"]


def test_torchxrayvision_outputs_onto_chexpert():
    predicted = output_labels(XRV, "torchxrayvision")
    assert len(predicted) == 18 and list(TORCHXRAYVISION) == XRV
    assert predicted[XRV.index("Effusion")] == "Pleural Effusion"
    assert [XRV[i] for i, p in enumerate(predicted) if p is None] == [
        "Infiltration", "Emphysema", "Fibrosis", "Pleural_Thickening", "Nodule", "Mass", "Hernia"]
    # 11 of the 14 CheXpert labels; No Finding, Pleural Other and Support Devices are not among its outputs
    assert set(scored_labels(PATHOLOGIES, predicted)) == set(PATHOLOGIES) - {"No Finding", "Pleural Other",
                                                                            "Support Devices"}
    assert scored_labels(LABEL_SETS["competition5"], predicted) == LABEL_SETS["competition5"]
    # the same names without the map: `Effusion` is no cxrbench label, so Pleural Effusion is not scored
    assert "Pleural Effusion" not in scored_labels(PATHOLOGIES, output_labels(XRV))


def test_scored_labels_keep_the_task_order():
    assert scored_labels(PATHOLOGIES, ["Pleural Effusion", None, "Cardiomegaly"]) == ("Cardiomegaly", "Pleural Effusion")
    assert scored_labels(("Fracture",), ["Cardiomegaly"]) == ()


def test_own_map_renames_and_drops():
    assert output_labels(["effusion", "heart", "Fracture"], {"effusion": "Pleural Effusion", "heart": "Cardiomegaly",
                                                            "Fracture": None}) == ["Pleural Effusion", "Cardiomegaly", None]


@pytest.mark.parametrize("outputs, label_map, message", [
    (["Cardiomegally"], None, r"output 'Cardiomegally' is not a cxrbench label; closest: Cardiomegaly"),
    (["a", "b"], {"a": "Edema", "c": "Fracture"}, r"label_map names 'c', which is not an output"),
    (["a", "Edema"], {"a": "Edema"}, r"outputs 'a' and 'Edema' both predict 'Edema'"),
    (["Edema", "Edema"], None, r"output 'Edema' is listed twice"),
    (["Hernia"], None, r"none of the outputs \(Hernia\) is a cxrbench label"),
])
def test_bad_outputs(outputs, label_map, message):
    with pytest.raises(ValueError, match=message):
        output_labels(outputs, label_map)


def test_bad_maps_name_the_closest_known():
    with pytest.raises(ValueError, match=r"maps 'Effusion' to 'Plueral Effusion', which is not a cxrbench label; "
                                         r"closest: Pleural Effusion"):
        check_label_map({"Effusion": "Plueral Effusion"})
    with pytest.raises(ValueError, match=r"unknown label map 'xrv'; shipped: torchxrayvision"):
        check_label_map("xrv")
