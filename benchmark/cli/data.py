"""`cxrbench data ...`: list, verify, import and preview datasets."""

from __future__ import annotations

import typer

ORDER = 10

data_app = typer.Typer(help="Datasets: list sources, verify frozen splits, import published splits, preview images.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(data_app, name="data")
