"""The root ``lswap`` application: built-in command groups, plugin commands, error handling."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..version import __version__
from . import analyze as analyze_commands
from . import bench as bench_commands
from . import config as config_commands
from . import directions as direction_commands
from . import faces as face_commands
from . import plugins as plugin_commands
from . import weights as weights_commands
from .convert import convert_command
from .demo import demo_command
from .swap import swap_command
from .train import train_command
from .generate import generate_command
from .invert import invert_command
from .edit import edit_command
from .eval import eval_command
from .sweep import sweep_command
from .failures import describe
from .output import debug_mode, report_failure
from .plugin_commands import PluginCommandGroup


class LswapGroup(PluginCommandGroup):
    """The root command group: lswap's commands and the plugins', with every failure a user
    can cause turned into one line on stderr (`lswap_core.cli.failures`)."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)
        _flags_as_flags(params)
        return params

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _show_flags_as_flags(command, ctx)
        return command

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.exceptions.TyperException):
            raise  # typer's own: usage errors, --help, explicit exits
        except BaseException as error:  # noqa: BLE001 - sorted into user errors and bugs below
            failure = describe(error)
            if failure is None or debug_mode():
                raise
            report_failure(failure)
            raise typer.Exit(failure.exit_code) from None


def _flags_as_flags(params: list[Any]) -> None:
    # Typer shows a type beside every option; a flag takes no value, so it gets none.
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""


def _show_flags_as_flags(command: Any, ctx: Any) -> None:
    """Hide the ``<bool>`` type column of every flag of ``command`` and of its subcommands."""
    _flags_as_flags(command.get_params(ctx))
    list_commands = getattr(command, "list_commands", None)
    if list_commands is not None:
        for name in list_commands(ctx):
            _show_flags_as_flags(command.get_command(ctx, name), ctx)


app = typer.Typer(
    name="lswap",
    cls=LswapGroup,
    help="Face swapping in the latent space of pretrained generators (LatentSwap).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"lswap {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Face swapping in the latent space of pretrained generators (LatentSwap).

    Set LSWAP_DEBUG=1 to see tracebacks of errors.
    """


app.add_typer(plugin_commands.app, name="plugins")
app.add_typer(config_commands.app, name="config")
app.command("train")(train_command)
app.command("demo")(demo_command)
app.command("swap")(swap_command)
app.add_typer(analyze_commands.app, name="analyze")
app.command("convert")(convert_command)
app.command("generate")(generate_command)
app.command("invert")(invert_command)
app.command("edit")(edit_command)
app.command("eval")(eval_command)
app.command("sweep")(sweep_command)
app.add_typer(bench_commands.app, name="bench")
app.add_typer(face_commands.app, name="faces")
app.add_typer(weights_commands.app, name="weights")
app.add_typer(direction_commands.app, name="directions")


def main() -> None:
    """Console-script entry point."""
    app()
