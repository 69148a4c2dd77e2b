"""Package discovery: the product card's top-level folders map onto one import package.

benchmark/ → cxrbench, baselines/ → cxrbench.baselines, leaderboard/ → cxrbench.leaderboard,
tasks/ → cxrbench.tasks. Everything else lives in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup

ROOTS = {"cxrbench": "benchmark", "cxrbench.baselines": "baselines",
         "cxrbench.leaderboard": "leaderboard", "cxrbench.tasks": "tasks"}
HERE = Path(__file__).parent


def discover() -> tuple[list[str], dict[str, str]]:
    """Every folder below a root whose name path Python can import, with or without __init__.py.

    Data-only folders (shipped weights, task fingerprints, published results) are listed too, as
    namespace packages: left out, setuptools still installs their package data but warns once per
    folder ("Package would be ignored"), which flooded `make install` with ~290 lines.
    """
    packages, package_dir = [], {}
    for package, folder in ROOTS.items():
        package_dir[package] = folder
        packages.append(package)
        for sub in sorted(p for p in (HERE / folder).rglob("*") if p.is_dir()):
            rel = sub.relative_to(HERE / folder).parts
            if all(part.isidentifier() and part != "__pycache__" for part in rel):
                packages.append(".".join((package, *rel)))
    return packages, package_dir


packages, package_dir = discover()
setup(packages=packages, package_dir=package_dir)
