"""What a record says produced it: the CPU model, the instruction set ATen dispatches to, thread
counts and library versions (what tells "same machine and software" from "another CPU")."""

import os
import subprocess
import sys

import torch

from cxrbench.runner.environment import cpu_model, environment, hardware


def test_hardware_names_cpu_isa_and_threads(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    found = hardware()
    assert found["cpu_model"] == cpu_model() and found["cpu_model"] not in ("", "unknown")
    assert found["isa"] == torch.backends.cpu.get_cpu_capability()
    assert found["torch_threads"] == torch.get_num_threads() and found["omp_num_threads"] == "1"
    env = environment()
    assert {"torch", "numpy", "diffusers"} <= set(env.libraries) and env.hardware["isa"] == found["isa"]


def test_a_capped_instruction_set_is_what_the_record_says():
    code = "from cxrbench.runner.environment import hardware; print(hardware()['isa'])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "ATEN_CPU_CAPABILITY": "default"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == "DEFAULT"
