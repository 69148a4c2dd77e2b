"""The `timm:` block of a classifier's `submission.yaml`, and the checks of its checkpoint.

```yaml
kind: classifier
timm:
  architecture: resnet18          # any name timm.create_model knows (timm.list_models()), or a Hub
                                  # id hf-hub:org/name@revision (its config.json names the architecture,
                                  # its model.safetensors is the checkpoint; `hub.py`)
  checkpoint: model.safetensors   # the state dict of that model, inside the submission
  labels: [Atelectasis, Cardiomegaly, Consolidation, Edema, Pleural Effusion]   # the head's outputs, in order
  label_map: null                 # or torchxrayvision, or {their name: cxrbench label or null} (label_map.py)
  input_size: 224                 # images are resized to this (antialiased bilinear)
  channels: 1                     # 1, or 3 (the grey image repeated)
  mean: [0.5]                     # normalisation of [0, 1] pixels; default: the architecture's own
  std: [0.5]
  activation: sigmoid             # sigmoid (multi-label logits), softmax, or none (already probabilities)
  fit:                            # optional: first train on the task's real training rows
    init: checkpoint              # from the checkpoint (default), or random (timm's seeded init; no checkpoint)
```

With `fit`, the model is trained inside the sandbox by the reference recipe's own training loop
(`train_classifier`: the task budget's recipe, its optimiser, schedule, epochs, EMA, augmentation
and loss), on exactly the rows the real-only baseline gets, then predicts. Only the architecture,
its weights and the block's input convention (size, channels, normalisation) are the submission's.
The head keeps its rows for the task's labels, in the task's order; outputs are sigmoids (the
recipe's loss).

The head may predict any subset of the cxrbench labels, under their names or its own through
`label_map` (`label_map.py`); a task scores it on the labels it predicts among the task's. The
architecture must exist in the installed timm; the checkpoint's tensors must have exactly the names and shapes of the model
the block describes. All of this is checked from the safetensors header before anything runs.
The adapter that runs it is `adapters/timm_classifier.py` (inside the sandbox).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cxrbench.errors import SubmissionError
from cxrbench.submissions.label_map import LabelMapField, check_label_map, output_labels, scored_labels
from cxrbench.submissions.weights import header_shapes


class TimmFit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: starting weights: the block's checkpoint, or timm's random init (seeded by the recipe's seed)
    init: Literal["checkpoint", "random"] = "checkpoint"


class TimmBlock(BaseModel):
    model_config = ConfigDict(extra="forbid")
    architecture: str
    checkpoint: str | None = None  # required unless fit.init is random
    labels: list[str] = Field(min_length=1)  # the head's outputs, in order (cxrbench names, or mapped)
    label_map: LabelMapField = None
    input_size: int = Field(default=224, ge=8, le=1024)
    channels: Literal[1, 3] = 3
    mean: list[float] | None = None
    std: list[float] | None = None
    activation: Literal["sigmoid", "softmax", "none"] = "sigmoid"
    #: extra keyword arguments of timm.create_model (e.g. drop_rate, global_pool)
    model_args: dict = {}
    fit: TimmFit | None = None

    @field_validator("fit", mode="before")
    @classmethod
    def _fit_shorthand(cls, v):
        return {} if v is True else None if v is False else v  # `fit: true` = the defaults

    @field_validator("label_map")
    @classmethod
    def _label_map(cls, v: LabelMapField) -> LabelMapField:
        return check_label_map(v)

    @field_validator("architecture")
    @classmethod
    def _hub_id(cls, v: str) -> str:
        from cxrbench.submissions.hub import checked

        return checked(v)  # ValueError: not org/name@revision

    @property
    def from_hub(self) -> bool:
        from cxrbench.submissions.hub import is_hub_id

        return is_hub_id(self.architecture)

    @model_validator(mode="after")
    def _normalisation(self) -> "TimmBlock":
        output_labels(self.labels, self.label_map)  # ValueError: a near-miss name, a stray map entry, ...
        if (self.mean is None) != (self.std is None):
            raise ValueError("give both mean and std, or neither (the architecture's own)")
        for name in ("mean", "std"):
            values = getattr(self, name)
            if values is not None and len(values) not in (1, self.channels):
                raise ValueError(f"{name} has {len(values)} value(s); give 1 or {self.channels} (one per channel)")
        if self.std is not None and min(self.std) <= 0:
            raise ValueError("std values must be > 0")
        if {"num_classes", "in_chans", "pretrained"} & set(self.model_args):
            raise ValueError("model_args may not set num_classes, in_chans or pretrained (labels and channels do)")
        if self.from_hub and self.checkpoint is not None:
            raise ValueError("a Hub architecture brings its own checkpoint (its model.safetensors): leave out checkpoint")
        if self.checkpoint is None and not self.from_hub and (self.fit is None or self.fit.init != "random"):
            raise ValueError("give a checkpoint (or fit: {init: random} to train the architecture from scratch)")
        if self.fit is not None and self.activation != "sigmoid":
            raise ValueError(f"activation {self.activation!r} with fit: a fitted head is trained with the recipe's "
                             f"sigmoid loss (set activation: sigmoid)")
        return self

    def predicted(self) -> list[str | None]:
        """The cxrbench label each head output predicts (None: not scored)."""
        return output_labels(self.labels, self.label_map)

    def output_of(self, label: str) -> int:
        """The head output that predicts cxrbench label `label`."""
        return self.predicted().index(label)

    def scored_labels(self, task_labels) -> tuple[str, ...]:
        """The task's labels this head predicts, in the task's order."""
        return scored_labels(task_labels, self.predicted())

    def normalisation(self, pretrained_cfg: dict) -> tuple[list[float], list[float]]:
        """Per-channel mean and std for this block (the architecture's own, grey-averaged, by default)."""
        mean = self.mean or list(pretrained_cfg.get("mean", (0.5,) * 3))
        std = self.std or list(pretrained_cfg.get("std", (0.5,) * 3))
        if self.channels == 1 and self.mean is None:
            mean, std = [sum(mean) / len(mean)], [sum(std) / len(std)]
        return ([mean[0]] * self.channels if len(mean) == 1 else mean), ([std[0]] * self.channels if len(std) == 1 else std)


#: what a timm Hub repository holds (`timm.models.push_to_hf_hub`): its config and its weights
HUB_CONFIG, HUB_WEIGHTS = "config.json", "model.safetensors"


def hub_architecture(folder: Path) -> tuple[str, dict]:
    """(architecture, pretrained_cfg) from a timm Hub snapshot's config.json."""
    import json

    try:
        config = json.loads((folder / HUB_CONFIG).read_text())
        return str(config["architecture"]), dict(config.get("pretrained_cfg") or {})
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SubmissionError(f"{folder / HUB_CONFIG}: not a timm Hub config (needs 'architecture'; "
                              f"{type(exc).__name__}: {exc})") from None


def build_model(block: TimmBlock, meta: bool = False, folder: Path | None = None, **defaults):
    """The timm model the block describes (random init; on the meta device: no memory, no init).

    `folder`: the Hub snapshot of a `hf-hub:` architecture (its config.json names the architecture).
    `defaults`: create_model arguments that the block's `model_args` may override (a recipe's drop_rate)."""
    import timm
    import torch

    architecture = hub_architecture(folder)[0] if block.from_hub and folder is not None else block.architecture
    kwargs = dict(defaults, pretrained=False, num_classes=len(block.labels), in_chans=block.channels)
    kwargs.update(block.model_args)
    if meta:
        with torch.device("meta"):
            return timm.create_model(architecture, **kwargs)
    return timm.create_model(architecture, **kwargs)


def check_timm(root: Path, block: TimmBlock, manifest_path: Path, snapshot=None) -> Path | None:
    """Check the architecture and the checkpoint's tensors against the block (a `hf-hub:` architecture:
    those of its Hub snapshot `snapshot`); SubmissionError names the fault."""
    import timm

    architecture = hub_architecture(snapshot.folder)[0] if snapshot is not None else block.architecture
    if not timm.is_model(architecture):
        near = timm.list_models(f"*{architecture.split('_')[0][:6]}*")[:4]
        raise SubmissionError(f"{manifest_path}: timm.architecture {architecture!r} is not a model timm "
                              f"{timm.__version__} knows" + (f" (similar: {', '.join(near)})" if near else ""))
    try:
        model = build_model(block, meta=True, folder=snapshot.folder if snapshot is not None else None)
    except Exception as exc:  # noqa: BLE001 - timm raises many types for bad model_args
        raise SubmissionError(f"{manifest_path}: timm cannot build {architecture} with these fields: "
                              f"{type(exc).__name__}: {exc}") from None
    if snapshot is not None:
        path = snapshot.folder / HUB_WEIGHTS
        if not path.is_file():
            raise SubmissionError(f"{block.architecture}: the snapshot holds no {HUB_WEIGHTS} (timm's safetensors "
                                  f"weights; pickles are never loaded)")
        return _check_tensors(path, model, block, architecture)
    if block.checkpoint is None:  # fit from timm's random init
        return None
    path = (root / block.checkpoint).resolve()
    if root not in path.parents:
        raise SubmissionError(f"{manifest_path}: timm.checkpoint {block.checkpoint!r} points outside the submission "
                              f"(copy it in: the sandbox sees nothing else)")
    if not path.is_file():
        raise SubmissionError(f"{manifest_path}: timm.checkpoint {block.checkpoint!r} does not exist")
    if path.suffix != ".safetensors":
        raise SubmissionError(f"{path}: the checkpoint must be safetensors (pickles are never loaded); convert with "
                              f"safetensors.torch.save_file(model.state_dict(), 'model.safetensors')")
    return _check_tensors(path, model, block, architecture)


def _check_tensors(path: Path, model, block: TimmBlock, architecture: str) -> Path:
    """The checkpoint's tensors have exactly the names and shapes of the model (from its header)."""
    shapes = header_shapes(path)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    what = f"{architecture} with {len(block.labels)} label(s) and {block.channels} channel(s)"
    missing = [k for k in expected if k not in shapes]
    if missing:
        raise SubmissionError(f"{path}: {len(missing)} tensor(s) of {what} missing (e.g. {missing[0]!r})")
    extra = [k for k in shapes if k not in expected]
    if extra:
        raise SubmissionError(f"{path}: {len(extra)} tensor(s) that {what} does not have (e.g. {extra[0]!r})")
    wrong = [k for k in expected if shapes[k] != expected[k]]
    if wrong:
        k = wrong[0]
        raise SubmissionError(f"{path}: tensor {k!r} has shape {shapes[k]}, {what} expects {expected[k]} "
                              f"({len(wrong)} tensor(s) misshapen)")
    return path
