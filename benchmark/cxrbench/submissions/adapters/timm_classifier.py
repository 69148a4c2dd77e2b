"""`TimmClassifier`: a `timm:` submission run inside the sandbox (no code of its own).

The checkpoint is loaded into the architecture the block names (safetensors, strict); uint8
eval images go through the reference recipe's input convention (resized to `input_size`,
antialiased bilinear) and then the block's own (scaled to [0, 1], repeated to `channels`,
normalised), and the head's outputs for the task's labels are returned as probabilities in the
task's label order.

With `fit`, `fit()` first trains the model with the reference recipe's own training loop
(`train_classifier`), so the schedule, optimiser, EMA, augmentation and loss are exactly the
real-only baseline's; the block contributes only the architecture, its starting weights and the
input convention. Training runs here, inside the sandbox, because the architecture and its
`model_args` are the submission's: whatever timm builds from them (its size, its memory, its
speed) stays under the sandbox's time and memory limits and never touches the cache.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from cxrbench.submissions.adapters import read_block
from cxrbench.submissions.timm_block import HUB_WEIGHTS, build_model, hub_architecture

#: the sandbox has no validation split. The recipe's fixed-length `final` selection only logs it and
#: catches divergence: it monitors up to this many training images (evenly spaced, all of a small set).
#: A `best_val` recipe selects by it: every 10th training image is held out instead.
MONITOR_IMAGES, HOLD_OUT_EVERY = 512, 10


class BlockInput(nn.Module):
    """A timm model behind the block's input convention, taking the recipe's model input
    ((B, 1, S, S) in [-1, 1], `cxrbench.baselines.classifier.augment.to_model_input`)."""

    def __init__(self, model: nn.Module, channels: int, mean: list[float], std: list[float]):
        super().__init__()
        self.model, self.channels = model, channels
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32)[None, :, None, None])
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32)[None, :, None, None])
        self.num_features = getattr(model, "num_features", None)

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        x = ((x + 1) / 2).expand(-1, self.channels, -1, -1)
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self._normalise(x))

    # what the recipe's TrainedClassifier calls
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(self._normalise(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.model.forward_head(x, pre_logits=pre_logits)

    def get_classifier(self) -> nn.Module:
        return self.model.get_classifier()


class TimmClassifier:
    def __init__(self, submission_dir: Path, device: str = "cpu", label_names: list[str] | None = None,
                 hub: dict[str, str] | None = None) -> None:
        manifest, self.block = read_block(Path(submission_dir), "timm")
        self.root = Path(submission_dir)
        #: a `hf-hub:` architecture's snapshot (config.json + model.safetensors), where the runner showed it
        self.hub_folder = Path(hub[self.block.architecture]) if self.block.from_hub and hub else None
        if self.block.from_hub and self.hub_folder is None:
            raise ValueError(f"timm.architecture {self.block.architecture}: the runner showed no snapshot of it")
        self.batch_size = manifest.batch_size
        self.device = torch.device(device)
        predicted = self.block.predicted()
        self.label_names = (list(label_names) if label_names is not None
                            else [n for n in predicted if n is not None])
        missing = [n for n in self.label_names if n not in predicted]
        if missing:
            raise ValueError(f"timm.labels (the head's outputs) predict no {missing[0]!r}: the head predicts "
                             f"{', '.join(n for n in predicted if n)}")
        self.columns = [self.block.output_of(n) for n in self.label_names]
        self.activation = self.block.activation
        self.model = self._model() if self.block.checkpoint is not None or self.hub_folder is not None else None

    def _model(self, **create_defaults) -> BlockInput:
        """The block's model with its checkpoint loaded (timm's random init for fit.init: random)."""
        from safetensors.torch import load_file

        model = build_model(self.block, folder=self.hub_folder, **create_defaults)
        checkpoint = (self.hub_folder / HUB_WEIGHTS if self.hub_folder is not None
                      else self.root / self.block.checkpoint if self.block.checkpoint is not None else None)
        if checkpoint is not None and (self.block.fit is None or self.block.fit.init == "checkpoint"):
            model.load_state_dict(load_file(str(checkpoint)), strict=True)
        pretrained_cfg = (hub_architecture(self.hub_folder)[1] if self.hub_folder is not None
                          else getattr(model, "pretrained_cfg", {}) or {})
        mean, std = self.block.normalisation(pretrained_cfg)
        return BlockInput(model, self.block.channels, mean, std).eval().to(self.device)

    def fit(self, images: np.ndarray, labels: np.ndarray, label_names: list[str], recipe: dict | None = None,
            uncertainty_policy: str | None = None, seed: int = 0) -> None:
        """Train with the reference recipe (`recipe`: its fields, from the runner) on the task's rows."""
        if self.block.fit is None:
            return
        from cxrbench.baselines.classifier import LabeledImages, train_classifier
        from cxrbench.baselines.classifier.recipe import recipe_from_dict

        if recipe is None:
            raise ValueError("timm.fit needs the task's recipe from the runner (this cxrbench sent none)")
        # the recipe's schedule at the block's input size; the block replaces its backbone
        recipe = recipe_from_dict({**recipe, "image_size": self.block.input_size}, where="timm.fit recipe")
        names = tuple(label_names)
        n = len(images)
        if recipe.selection == "best_val":
            monitor = np.arange(n) % HOLD_OUT_EVERY == 0
            train = ~monitor
        else:
            monitor = np.zeros(n, bool)
            monitor[np.unique(np.linspace(0, n - 1, min(n, MONITOR_IMAGES)).round().astype(int))] = True
            train = np.ones(n, bool)

        def part(mask, prefix):
            return LabeledImages(images=np.ascontiguousarray(images[mask]), labels=np.asarray(labels[mask]),
                                 image_ids=np.array([f"{prefix}-{i}" for i in np.flatnonzero(mask)]),
                                 label_names=names)

        def build_model(num_classes, *, drop_rate=0.0):
            # called by train_classifier under its seed: the block's model in place of recipe.backbone
            return self._fitted_head(self._model(drop_rate=drop_rate), names)

        trained = train_classifier(part(train, "train"), part(monitor, "monitor"), recipe, seed=seed,
                                   device=str(self.device), progress=False, uncertainty_policy=uncertainty_policy,
                                   label_names=names, build_model=build_model)
        self.model = trained.model.eval()
        self.columns = [names.index(n) for n in self.label_names]
        self.activation = "sigmoid"

    def _fitted_head(self, model: BlockInput, names: tuple[str, ...]) -> BlockInput:
        """The head cut to the task's labels in the task's order (the checkpoint's rows kept)."""
        old = model.get_classifier()
        rows = [self.block.output_of(n) for n in names]
        if rows == list(range(len(self.block.labels))):
            return model
        model.model.reset_classifier(len(rows))
        new = model.get_classifier()
        with torch.no_grad():
            for attr in ("weight", "bias"):
                src, dst = getattr(old, attr, None), getattr(new, attr, None)
                if isinstance(src, torch.Tensor) and isinstance(dst, torch.Tensor) and dst.shape == src[rows].shape:
                    dst.copy_(src[rows])
        return model.to(self.device)

    @torch.inference_mode()
    def predict(self, images: np.ndarray) -> np.ndarray:
        from cxrbench.baselines.classifier.loader import iterate_images

        if self.model is None:
            raise RuntimeError("predict before fit: a timm block without a checkpoint must fit first")
        out = []
        for x in iterate_images(images, self.batch_size, self.block.input_size, self.device):
            logits = self.model(x).float()
            if self.activation == "sigmoid":
                probs = torch.sigmoid(logits)
            elif self.activation == "softmax":
                probs = torch.softmax(logits, dim=1)
            else:
                probs = logits
            out.append(probs[:, self.columns].cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.columns)), np.float32)
