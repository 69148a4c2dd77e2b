"""Independent slow references for the statistics tests (O(n²) pairwise kernels, R's pROC)."""

from __future__ import annotations

import json
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.stats import norm


def psi(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mann–Whitney kernel: 1 if x > y, ½ if equal, 0 if below (pairwise matrix)."""
    return (x[:, None] > y[None, :]) + 0.5 * (x[:, None] == y[None, :])


def slow_components(y: np.ndarray, s: np.ndarray):
    """AUROC and DeLong (1988) structural components from the full m × n kernel matrix."""
    k = psi(s[y == 1], s[y == 0])
    return k.mean(), k.mean(axis=1), k.mean(axis=0)


def slow_delong(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> dict:
    """Paired DeLong test written out from DeLong, DeLong & Clarke-Pearson (1988)."""
    auc_a, v10a, v01a = slow_components(y, a)
    auc_b, v10b, v01b = slow_components(y, b)
    m, n = v10a.size, v01a.size

    def cov(u, v):
        return np.sum((u - u.mean()) * (v - v.mean())) / (u.size - 1)

    var_a = cov(v10a, v10a) / m + cov(v01a, v01a) / n
    var_b = cov(v10b, v10b) / m + cov(v01b, v01b) / n
    c = cov(v10a, v10b) / m + cov(v01a, v01b) / n
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (auc_a - auc_b) / np.sqrt(var_a + var_b - 2 * c)
    return {"auc_a": auc_a, "auc_b": auc_b, "var_a": var_a, "var_b": var_b, "cov": c, "z": z,
            "p_value": 2 * norm.sf(abs(z))}


R_SCRIPT = r"""
suppressMessages(library(pROC))
d <- read.csv(commandArgs(TRUE)[1])
r1 <- roc(d$y, d$a, levels = c(0, 1), direction = "<", quiet = TRUE)
r2 <- roc(d$y, d$b, levels = c(0, 1), direction = "<", quiet = TRUE)
t <- roc.test(r1, r2, method = "delong", paired = TRUE)
ci <- ci.auc(r1, method = "delong", conf.level = 0.95)
cat(sprintf('{"auc_a": %.17g, "auc_b": %.17g, "var_a": %.17g, "var_b": %.17g, "z": %.17g, "p_value": %.17g, "ci_low": %.17g, "ci_high": %.17g}',
    as.numeric(auc(r1)), as.numeric(auc(r2)), var(r1, method = "delong"),
    var(r2, method = "delong"), as.numeric(t$statistic), t$p.value, ci[1], ci[3]))
"""


@lru_cache(maxsize=1)
def have_proc() -> bool:
    if shutil.which("Rscript") is None:
        return False
    done = subprocess.run(["Rscript", "-e", "suppressMessages(library(pROC))"],
                          capture_output=True, timeout=60)
    return done.returncode == 0


def proc_delong(y: np.ndarray, a: np.ndarray, b: np.ndarray, tmp: Path) -> dict:
    """pROC's AUROCs, DeLong variances, paired roc.test z and p, and one-model DeLong CI."""
    csv = tmp / "scores.csv"
    np.savetxt(csv, np.column_stack([y, a, b]), delimiter=",", header="y,a,b", comments="",
               fmt="%.17g")
    script = tmp / "delong.R"
    script.write_text(R_SCRIPT)
    done = subprocess.run(["Rscript", str(script), str(csv)], capture_output=True, text=True,
                          timeout=120, check=True)
    return json.loads(done.stdout)


def r_p_adjust(p: np.ndarray, method: str) -> np.ndarray:
    """R's p.adjust (stats package, always present with R)."""
    expr = f"cat(sprintf('%.17g', p.adjust(c({','.join(repr(float(x)) for x in p)}), method = '{method}')), sep = ' ')"
    done = subprocess.run(["Rscript", "-e", expr], capture_output=True, text=True, timeout=60,
                          check=True)
    return np.array([float(x) for x in done.stdout.split()])
