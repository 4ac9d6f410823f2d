"""``lswap directions``: make the directions editors move codes along."""

from __future__ import annotations

import typer

from .directions_fit import fit_command
from .directions_pca import pca_command

app = typer.Typer(help="Fit editing directions: InterFaceGAN boundaries, GANSpace components.", no_args_is_help=True)
app.command("fit")(fit_command)
app.command("pca")(pca_command)
