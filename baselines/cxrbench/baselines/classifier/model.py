"""A trained reference classifier: predict, features, save and load (safetensors + JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from cxrbench.baselines.classifier.backbones import create_backbone
from cxrbench.baselines.classifier.data import LabeledImages
from cxrbench.baselines.classifier.loader import iterate_images
from cxrbench.baselines.classifier.recipe import Recipe, recipe_from_dict
from cxrbench.data.atomic import atomic_write_bytes, atomic_write_text
from cxrbench.errors import DataError

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
FORMAT_VERSION = 1


class TrainedClassifier:
    """A backbone in eval mode with the recipe, label names and training record it came from."""

    def __init__(self, model: nn.Module, recipe: Recipe, label_names: tuple[str, ...],
                 info: dict | None = None, device: str | torch.device = "cpu"):
        self.model = model.eval()
        self.recipe = recipe
        self.label_names = tuple(label_names)
        self.info = dict(info or {})
        self.device = torch.device(device)
        self.model.to(self.device)

    def _pixels(self, images) -> np.ndarray:
        if isinstance(images, LabeledImages):
            if images.label_names != self.label_names:
                raise DataError(
                    f"eval set labels {list(images.label_names)} differ from the classifier's "
                    f"{list(self.label_names)}"
                )
            images = images.images
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1] != images.shape[2]:
            raise DataError(f"images must be uint8 (N, S, S); got {images.dtype} {tuple(images.shape)}")
        return images

    @torch.no_grad()
    def _run(self, images, head: bool, batch_size: int | None) -> np.ndarray:
        pixels = self._pixels(images)
        bs = batch_size or self.recipe.eval_batch_size
        out = []
        for x in iterate_images(pixels, bs, self.recipe.image_size, self.device):
            with _autocast(self.device, self.recipe):
                feats = self.model.forward_head(self.model.forward_features(x), pre_logits=True)
                out.append((torch.sigmoid(self.model.get_classifier()(feats)) if head else feats).float().cpu())
        if not out:
            width = len(self.label_names) if head else self.model.num_features
            return np.zeros((0, width), dtype=np.float32)
        return torch.cat(out).numpy().astype(np.float32)

    def predict(self, images: np.ndarray | LabeledImages, batch_size: int | None = None) -> np.ndarray:
        """Probabilities float32 (N, L), columns in `label_names` order."""
        return self._run(images, head=True, batch_size=batch_size)

    def features(self, images: np.ndarray | LabeledImages, batch_size: int | None = None) -> np.ndarray:
        """Penultimate-layer features float32 (N, D): pooled, before the classifier."""
        return self._run(images, head=False, batch_size=batch_size)

    def config(self) -> dict:
        return {
            "format_version": FORMAT_VERSION,
            "recipe": self.recipe.model_dump(),
            "recipe_identity": self.recipe.identity(),
            "label_names": list(self.label_names),
            "info": self.info,
        }

    def save(self, directory: str | Path) -> Path:
        """Write model.safetensors + config.json into `directory` (atomically per file)."""
        from safetensors.torch import save

        directory = Path(directory)
        state = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        atomic_write_bytes(directory / WEIGHTS_FILE, save(state))
        atomic_write_text(directory / CONFIG_FILE,
                          json.dumps(self.config(), indent=2, sort_keys=True, default=_json_default))
        return directory

    @classmethod
    def load(cls, directory: str | Path, device: str | torch.device = "cpu") -> "TrainedClassifier":
        """Rebuild from a saved directory; weights are read with safetensors (never unpickled)."""
        from safetensors.torch import load_file

        directory = Path(directory)
        config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
        if not config_path.is_file() or not weights_path.is_file():
            raise DataError(f"{directory}: not a saved classifier (needs {CONFIG_FILE} and {WEIGHTS_FILE})")
        config = json.loads(config_path.read_text())
        recipe = recipe_from_dict(config["recipe"], where=str(config_path))
        label_names = tuple(config["label_names"])
        model = create_backbone(recipe.backbone, len(label_names), drop_rate=recipe.drop_rate)
        try:
            model.load_state_dict(load_file(str(weights_path)), strict=True)
        except RuntimeError as exc:
            raise DataError(f"{weights_path}: weights do not fit backbone {recipe.backbone!r}: {exc}") from None
        return cls(model, recipe, label_names, config.get("info"), device=device)


def _autocast(device: torch.device, recipe: Recipe):
    enabled = device.type == "cuda" and recipe.bf16_autocast
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
