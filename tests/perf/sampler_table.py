"""The answer `make bench` prints first: one sampler table per device, from the suites of this run.

`test_sampler_perf` adds each suite's numbers (`sampler_suite`) here; the perf conftest prints the
tables at the end of the run, after pytest-benchmark's time columns, as the last thing on screen.
The same numbers are in each benchmark's `extra_info`, so `--benchmark-json` keeps them.
"""

from __future__ import annotations

#: the suites measured in this run (one per preset and device)
SUITES: list[dict] = []

#: key of the study's recipe in a suite (eager DDIM-200), the row every speed-up is taken against
BASELINE = "baseline_eager_ddim200"


def _steps(key: str) -> tuple[str, int]:
    if key == BASELINE:
        return "DDIM, eager (the study's recipe)", 200
    name, steps = key.rsplit("-", 1)
    return name, int(steps)


def format_table(info: dict) -> list[str]:
    """One device's table: sampler, steps, images/s, ms/step, achieved TFLOP/s, fraction of peak, speed-up."""
    peak = info["peak_bf16_tflops"]
    head = (f"sampler timing: {info['preset']} on {info['device']} ({info['threads']} thread(s)), batch "
            f"{info['batch']}, {info['gflop_per_image_forward']} GFLOP per image per step, "
            + (f"peak {peak} TFLOP/s (bf16 dense)" if isinstance(peak, (int, float)) else "peak unknown (CPU)"))
    cols = ("sampler", "steps", "images/s", "ms/step", "TFLOP/s", "of peak", "× study")
    rows = []
    for key, e in info["entries"].items():
        name, steps = _steps(key)
        frac = e["fraction_of_bf16_peak"]
        rows.append((name, str(steps), f"{e['images_per_s']:.2f}", f"{e['ms_per_step']:.3f}",
                     f"{e['achieved_tflops']:.4f}", f"{frac:.1%}" if isinstance(frac, (int, float)) else "—",
                     f"{e['speedup_vs_baseline']:.2f}"))
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(cols)]

    def line(cells):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return [head, line(cols), line(["-" * w for w in widths]), *map(line, rows),
            "(× study: images/s over the study's recipe, eager DDIM-200, measured in this run; compile time "
            "excluded from every rate)"]
