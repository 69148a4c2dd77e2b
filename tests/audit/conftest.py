"""Make the toy image world (tests/audit/toy.py) importable as `toy`."""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
torch.set_num_threads(1)  # shared CPUs: keep the audit tests on one thread
