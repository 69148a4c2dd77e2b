"""`TimmClassifier`: a `timm:` submission run inside the sandbox (no code of its own).

The checkpoint is loaded into the architecture the block names (safetensors, strict); uint8
eval images are scaled to [0, 1], resized to `input_size` (antialiased bilinear), repeated to
`channels`, normalised, and the head's outputs for the task's labels are returned as
probabilities in the task's label order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cxrbench.submissions.adapters import read_block
from cxrbench.submissions.timm_block import build_model


class TimmClassifier:
    def __init__(self, submission_dir: Path, device: str = "cpu", label_names: list[str] | None = None) -> None:
        from safetensors.torch import load_file

        manifest, self.block = read_block(Path(submission_dir), "timm")
        self.batch_size = manifest.batch_size
        self.device = torch.device(device)
        head = self.block.labels
        wanted = list(label_names) if label_names is not None else head
        missing = [n for n in wanted if n not in head]
        if missing:
            raise ValueError(f"timm.labels (the head's outputs) lack the task label {missing[0]!r}: the head predicts "
                             f"{', '.join(head)}")
        self.columns = [head.index(n) for n in wanted]
        model = build_model(self.block)
        model.load_state_dict(load_file(str(Path(submission_dir) / self.block.checkpoint)), strict=True)
        self.model = model.eval().to(self.device)
        mean, std = self.block.normalisation(getattr(model, "pretrained_cfg", {}) or {})
        self.mean = torch.tensor(mean, dtype=torch.float32, device=self.device)[None, :, None, None]
        self.std = torch.tensor(std, dtype=torch.float32, device=self.device)[None, :, None, None]

    def _inputs(self, images: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(images)).to(self.device).float()[:, None] / 255.0
        size = self.block.input_size
        if x.shape[-2:] != (size, size):
            x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                                                align_corners=False)
        x = x.expand(-1, self.block.channels, -1, -1)
        return (x - self.mean) / self.std

    @torch.inference_mode()
    def predict(self, images: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(images), self.batch_size):
            logits = self.model(self._inputs(images[start:start + self.batch_size])).float()
            if self.block.activation == "sigmoid":
                probs = torch.sigmoid(logits)
            elif self.block.activation == "softmax":
                probs = torch.softmax(logits, dim=1)
            else:
                probs = logits
            out.append(probs[:, self.columns].cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.columns)), np.float32)
