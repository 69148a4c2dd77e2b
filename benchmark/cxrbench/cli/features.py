"""`cxrbench features`: the audit's real-data feature spaces (fetch their weights once, list them)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

ORDER = 3
out = Console()
features_app = typer.Typer(help="The audit's feature spaces: phantom, rad-dino, xrv-densenet (docs/audit.md).",
                           no_args_is_help=True)


@features_app.command("fetch")
def fetch(
    space: str = typer.Argument(..., help="rad-dino or xrv-densenet."),
    out_dir: Path = typer.Option(None, "--out", help="Folder to write (default: $CXRBENCH_FEATURES_DIR/<space> or "
                                 "~/.cache/cxrbench/features/<space>, where audits look)."),
    source: str = typer.Option(None, "--from", help="rad-dino: the hub id (default microsoft/rad-dino); "
                               "xrv-densenet: torchxrayvision's weights name (default densenet121-res224-all)."),
) -> None:
    """Download a space's weights (needs network) into a safetensors folder audits load offline."""
    from cxrbench.audit.weights_folder import default_dir
    from cxrbench.errors import ConfigError

    target = out_dir or default_dir(space)
    if space == "rad-dino":
        from cxrbench.audit.rad_dino import HUB_ID
        from cxrbench.audit.rad_dino import fetch as fetch_rad_dino

        fetch_rad_dino(target, source or HUB_ID)
    elif space == "xrv-densenet":
        from cxrbench.audit.xrv_densenet import DEFAULT_WEIGHTS
        from cxrbench.audit.xrv_densenet import fetch as fetch_xrv

        fetch_xrv(target, source or DEFAULT_WEIGHTS)
    else:
        raise ConfigError(f"{space!r}: fetch knows rad-dino and xrv-densenet (the phantom space ships with cxrbench)")
    out.print(f"wrote {escape(str(target))}: use it with --features {space} (found there by default)")


@features_app.command("ls")
def ls() -> None:
    """Each space, where its weights are looked for, and whether they are there."""
    from cxrbench.audit.spaces import SPACES, space_identity
    from cxrbench.audit.weights_folder import default_dir
    from cxrbench.errors import ConfigError

    for space in SPACES:
        try:
            sha = space_identity(space)["weights_sha256"]
            state = f"weights sha256 {sha[:12]}…"
        except ConfigError as exc:
            state = f"[yellow]{escape(str(exc))}[/]"
        where = "shipped" if space == "phantom" else escape(str(default_dir(space)))
        out.print(f"[bold]{space}[/] ({where}): {state}")


def register(app: typer.Typer) -> None:
    app.add_typer(features_app, name="features")
