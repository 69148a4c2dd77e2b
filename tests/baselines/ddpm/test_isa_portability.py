"""The shipped samplers with the instruction set capped: a golden value tied to one ISA fails here,
on the developers' machine, not on a user's.

Each cap runs the shipped tiny-32 samplers in a fresh process with every vector-ISA dispatcher
held back: ATen (`ATEN_CPU_CAPABILITY`), oneDNN (`ONEDNN_MAX_CPU_ISA`), MKL
(`MKL_ENABLE_INSTRUCTIONS`) and NumPy (`NPY_DISABLE_CPU_FEATURES`). The DDPM's counter noise is
integer-exact, so it must be bit-identical under every cap; the images must match the goldens
within the contract's tolerance (docs/reproducibility.md). Measured on an AVX-512 CPU (AMD EPYC):
at the AVX2 cap the images are byte-identical to the uncapped ones; at the baseline cap one DDIM
pixel of 12,288 moves by one grey level, which a sha256 golden fails on.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from golden import assert_images_close

from .shipped_samples import CASES, goldens, name, step_noise

HERE = Path(__file__).parent
X86 = platform.machine() in ("x86_64", "AMD64")


def _numpy_dispatch_above(cap: str) -> list[str]:
    """NumPy's runtime-dispatched targets above `cap` that this CPU has (to disable them)."""
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:  # NumPy 1.x
        from numpy.core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    keep = () if cap == "default" else ("X86_V3", "AVX2", "FMA3", "AVX", "F16C")
    return [f for f in __cpu_dispatch__ if __cpu_features__.get(f) and f not in keep]


#: cap → (environment that holds every dispatcher at it, the capability ATen must then report)
CAPS = {
    "default": ({"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41",
                 "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"}, "DEFAULT"),
    "avx2": ({"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
             "AVX2"),
}


@pytest.fixture(scope="module")
def here_noise():
    return step_noise()


@pytest.mark.parametrize("cap", list(CAPS))
def test_shipped_samplers_under_a_capped_instruction_set(cap, tmp_path, here_noise):
    if cap == "avx2" and not (X86 and torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512")):
        pytest.skip("the AVX2 cap needs an x86-64 CPU with AVX2")
    env_cap, reported = CAPS[cap]
    env = {**os.environ, **env_cap, "OMP_NUM_THREADS": "1"}
    if X86:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(_numpy_dispatch_above(cap))
    out = tmp_path / "samples.npz"
    done = subprocess.run([sys.executable, str(HERE / "shipped_samples.py"), str(out), "--noise"], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == reported  # the cap took effect
    with np.load(out) as drawn:
        np.testing.assert_array_equal(drawn["noise"], here_noise)  # integer-exact: the same bits under any ISA
        golden = goldens()
        for case in CASES:
            assert_images_close(drawn[name(case)], golden[name(case)], f"{name(case)} at ISA cap {cap}")
