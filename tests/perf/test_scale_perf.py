"""Scale-out: 8 phantom training jobs (phantom/supplement-100, 4 seeds) on Ray with 2 workers vs 1,
and Ray's overhead per job against `--executor local`, all measured in the same run.

Target: 2 workers at least 1.6x faster than 1 on a 2-core machine. Takes 10-30 min
(three runs of 8 CPU trainings); on a machine with other load the ratio is not representative:
extra_info records the load average next to it. Also `docs/experiments/scale_benchmark.py measure`.
"""

import sys
from argparse import Namespace
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="ray is not installed (pip install 'cxrbench[ray]')")
pytestmark = pytest.mark.scale  # `make bench-scale`: 10-30 min, not part of `make bench`
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "docs" / "experiments"))


def test_two_ray_workers_vs_one(benchmark, tmp_path):
    from scale_benchmark import measure

    result = benchmark.pedantic(measure, args=(Namespace(seeds=4, work=str(tmp_path), out=None, with_local=True),), rounds=1,
                                iterations=1)
    benchmark.extra_info.update({k: result[k] for k in ("speedup_2_vs_1_ray_workers", "ray_overhead_per_job_s",
                                                        "ray_overhead_per_job_vs_job_time_s",
                                                        "loadavg_1_5_15", "training_jobs")})
    assert result["same_predictions"]
    assert result["speedup_2_vs_1_ray_workers"] >= 1.6, result
