"""Write the fixed-point normal quantiles the DDPM's counter noise reads
(`baselines/cxrbench/baselines/ddpm/normal_quantiles.safetensors`, `noise.exact_normal`).

Node (j, k), for octave j = 0..32 and k = 0..2^6, sits at the two-sided tail probability
q = 2^j (1 + k / 2^6) / 2^33 and holds round(2^21 Φ⁻¹(1 − q/2)) = round(2^21 √2 erfc⁻¹(q)),
computed with mpmath at 40 significant digits (pure Python: the same integers on every machine).

    python tools/normal_quantiles.py            # rewrites the shipped table
"""

from __future__ import annotations

import argparse
from pathlib import Path

import mpmath
import torch
from safetensors.torch import save_file

from cxrbench.baselines.ddpm.noise import FRACTION_BITS, NODE_BITS, OCTAVES, QUANTILES_FILE

DIGITS = 40


def node_value(octave: int, node: int) -> int:
    """The table's integer at (octave, node), exactly."""
    with mpmath.workdps(DIGITS):
        q = mpmath.ldexp(1 + mpmath.mpf(node) / 2 ** NODE_BITS, octave - OCTAVES)
        return int(mpmath.nint(mpmath.ldexp(mpmath.sqrt(2) * mpmath.erfinv(1 - q), FRACTION_BITS)))


def table() -> torch.Tensor:
    return torch.tensor([[node_value(j, k) for k in range(2 ** NODE_BITS + 1)] for j in range(OCTAVES)],
                        dtype=torch.int64)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=QUANTILES_FILE)
    args = parser.parse_args(argv)
    save_file({"magnitude": table()}, str(args.out), metadata={
        "definition": f"round(2^{FRACTION_BITS} * sqrt(2) * erfcinv(2^j * (1 + k/2^{NODE_BITS}) / 2^{OCTAVES}))",
        "digits": str(DIGITS)})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
