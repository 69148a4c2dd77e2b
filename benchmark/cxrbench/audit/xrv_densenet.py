"""torchxrayvision's DenseNet-121 as an audit feature space (`pip install 'cxrbench[xrv]'`).

Features: the 1,024-d pooled layer (`features2`); the model's own pathology head also gives
condition adherence for the findings it shares with cxrbench (`Effusion` is Pleural Effusion).
Input as torchxrayvision expects: one channel scaled to [-1024, 1024], resized to the weights'
resolution. torchxrayvision publishes its weights as pickled modules, so they are converted once
(`fetch`, on a machine with network) into a folder of `model.safetensors` + `config.json`, and an
audit never unpickles anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from cxrbench.audit.weights_folder import default_dir, missing_weights, safetensors_digest
from cxrbench.data.preprocess import check_images
from cxrbench.errors import ConfigError
from cxrbench.schema import PATHOLOGIES

NAME = "xrv-densenet"
EXTRA = "xrv"
DEFAULT_WEIGHTS = "densenet121-res224-all"
#: torchxrayvision's names for cxrbench labels that differ only in name
XRV_TO_CXRBENCH = {"Effusion": "Pleural Effusion"}
CONFIG = "config.json"


def _xrv():
    try:
        import torchxrayvision
    except ImportError:
        raise ConfigError(f"feature space {NAME!r} needs torchxrayvision: pip install 'cxrbench[{EXTRA}]'") from None
    return torchxrayvision


def build(config: dict) -> torch.nn.Module:
    """An untrained torchxrayvision DenseNet shaped as `config` says."""
    xrv = _xrv()
    return xrv.models.DenseNet(growth_rate=config["growth_rate"], block_config=tuple(config["block_config"]),
                               num_init_features=config["num_init_features"], num_classes=len(config["labels"]),
                               weights=None)


def save_folder(model: torch.nn.Module, out: Path, *, weights: str, labels: list[str], resolution: int,
                growth_rate: int = 32, block_config=(6, 12, 24, 16), num_init_features: int = 64) -> Path:
    """Write `model` as the folder the extractor loads: config.json + model.safetensors."""
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items() if k != "op_threshs"}
    save_file(state, str(out / "model.safetensors"))
    (out / CONFIG).write_text(json.dumps({
        "architecture": "densenet", "weights": weights, "labels": list(labels), "input_resolution": resolution,
        "growth_rate": growth_rate, "block_config": list(block_config), "num_init_features": num_init_features,
        "torchxrayvision": getattr(_xrv(), "__version__", "unknown")}, indent=1))
    return out


def fetch(out: Path, weights: str = DEFAULT_WEIGHTS) -> Path:
    """Download torchxrayvision's `weights` (needs network; torchxrayvision unpickles its own file)
    and save them as a safetensors folder."""
    xrv = _xrv()
    model = xrv.models.DenseNet(weights=weights)
    return save_folder(model, out, weights=weights, labels=list(model.targets),
                       resolution=int(getattr(model, "input_resolution", 224)))


class XrvDenseNetExtractor:
    """uint8 (N, S, S) → float32 (N, 1024) pooled DenseNet features; `predict` gives its pathology head."""

    def __init__(self, weights: str | Path | None = None, device: str = "cpu", batch_size: int = 64):
        _xrv()
        self.folder = Path(weights).expanduser() if weights else default_dir(NAME)
        if not (self.folder / CONFIG).is_file():
            raise missing_weights(NAME, self.folder, EXTRA)
        self.weights_sha256 = safetensors_digest(self.folder, NAME)
        self.config = json.loads((self.folder / CONFIG).read_text())
        self.model = build(self.config)
        self.model.load_state_dict(load_file(str(self.folder / "model.safetensors")))
        self.model.eval().to(device)
        self.side = int(self.config["input_resolution"])
        self.device, self.batch_size = device, batch_size
        self.name = NAME
        self.version = f"{self.config['weights']}+{self.weights_sha256[:12]}"
        #: the head's outputs under cxrbench's names (adherence uses those in PATHOLOGIES)
        self.label_names = [XRV_TO_CXRBENCH.get(n, n) for n in self.config["labels"]]

    def info(self) -> dict:
        return {"name": self.name, "version": self.version, "weights_sha256": self.weights_sha256,
                "model": f"torchxrayvision DenseNet ({self.config['weights']})", "input_size": self.side,
                "adherence_labels": [n for n in self.label_names if n in PATHOLOGIES]}

    def _batches(self, images: np.ndarray):
        check_images(images, "images")
        for start in range(0, images.shape[0], self.batch_size):
            x = torch.from_numpy(np.asarray(images[start:start + self.batch_size], dtype=np.float32))
            x = (x / 255.0 * 2.0 - 1.0) * 1024.0  # torchxrayvision's range (xrv.datasets.normalize)
            yield F.interpolate(x[:, None], size=(self.side, self.side), mode="bilinear", antialias=True,
                                align_corners=False).to(self.device)

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> np.ndarray:
        return np.concatenate([self.model.features2(x).float().cpu().numpy() for x in self._batches(images)])

    @torch.inference_mode()
    def predict(self, images: np.ndarray) -> np.ndarray:
        """Sigmoid of the pathology head, (N, len(label_names))."""
        return np.concatenate([torch.sigmoid(self.model.classifier(self.model.features2(x))).float().cpu().numpy()
                               for x in self._batches(images)])
