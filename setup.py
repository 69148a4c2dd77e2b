"""Package discovery for one import package in four PEP 420 namespace roots.

Each of the product card's top-level folders holds a part of `cxrbench` under its own name
(benchmark/cxrbench/, baselines/cxrbench/baselines/, leaderboard/cxrbench/leaderboard/,
tasks/cxrbench/tasks/), so every folder is named after the package it is. Written here because
pyproject's `packages.find` maps a namespace found in several `where` folders to the last one only.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup

ROOTS = ("benchmark", "baselines", "leaderboard", "tasks")
HERE = Path(__file__).parent

packages: set[str] = set()
package_dir: dict[str, str] = {}
for root in ROOTS:
    for package in find_namespace_packages(where=str(HERE / root), include=["cxrbench.*"], exclude=["*__pycache__*"]):
        packages.add(package)
        package_dir[package] = "/".join((root, *package.split(".")))
# the namespace itself has no __init__.py; its top-level modules (version, results, ...) live in benchmark/
packages.add("cxrbench")
package_dir["cxrbench"] = "benchmark/cxrbench"
setup(packages=sorted(packages), package_dir=package_dir)
