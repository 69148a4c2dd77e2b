"""The reference recipe as a classifier submission: `fit` on the real training split, then `predict`.

Without a validation split of its own it holds out 10% of the training patients' images
(every 10th image, deterministic) for early stopping.
"""

import numpy as np

from cxrbench.baselines.classifier import LabeledImages, get_recipe, train_classifier

RECIPE, SEED = "quick", 0


class ReferenceClassifier:
    def __init__(self, device: str = "cpu"):
        self.device = device
        self.model = None

    def fit(self, images, labels, label_names):
        n = len(images)
        val = np.arange(n) % 10 == 0
        ids = np.array([f"train-{i}" for i in range(n)])
        recipe = get_recipe(RECIPE, image_size=images.shape[1])

        def part(mask):
            return LabeledImages(images=np.ascontiguousarray(images[mask]), labels=labels[mask],
                                 image_ids=ids[mask], label_names=tuple(label_names))

        self.model = train_classifier(part(~val), part(val), recipe, seed=SEED, device=self.device, progress=False)

    def predict(self, images):
        if self.model is None:
            raise RuntimeError("predict called before fit")
        return self.model.predict(images)
