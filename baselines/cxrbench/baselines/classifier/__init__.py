"""The reference classifier recipe: fixed, versioned, reproducible; see docs/classifier.md.

    recipe = get_recipe("quick")
    clf = train_classifier(train, val, recipe, seed=0, forbidden_ids=test_ids)
    write_predictions("internal_test.parquet", test.image_ids, clf.predict(test.images), clf.label_names)
"""

from cxrbench.baselines.classifier.backbones import BACKBONES, create_backbone
from cxrbench.baselines.classifier.data import LabeledImages, from_rows, supplement, training_targets
from cxrbench.baselines.classifier.metrics import macro_auroc
from cxrbench.baselines.classifier.model import TrainedClassifier
from cxrbench.baselines.classifier.predictions import read_predictions, write_predictions
from cxrbench.baselines.classifier.recipe import PRESETS, Recipe, get_recipe
from cxrbench.baselines.classifier.train import train_classifier

__all__ = [
    "BACKBONES", "LabeledImages", "PRESETS", "from_rows", "Recipe", "TrainedClassifier", "create_backbone",
    "get_recipe", "macro_auroc", "read_predictions", "supplement", "train_classifier",
    "training_targets", "write_predictions",
]
