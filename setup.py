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
    packages, package_dir = [], {}
    for package, folder in ROOTS.items():
        package_dir[package] = folder
        for init in sorted((HERE / folder).rglob("__init__.py")):
            rel = init.parent.relative_to(HERE / folder).parts
            packages.append(".".join((package, *rel)))
    return packages, package_dir


packages, package_dir = discover()
setup(packages=packages, package_dir=package_dir)
