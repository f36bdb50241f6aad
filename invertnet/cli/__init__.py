"""The ``invertnet`` command: a thin layer that parses, calls the library and prints.

Results go to stdout, progress and errors to stderr. A problem the user can fix is one line
``invertnet: error: ...`` and exit code 1: the library's errors, and those of the machine
(a full or read-only disk, a missing permission, memory that runs out); a malformed command
line exits with 2; a run stopped by SIGINT/SIGTERM exits with 130/143 after saving.
"""

from __future__ import annotations

import sys

import typer
from typer.core import TyperArgument, TyperOption

from ..errors import InvertnetError
from ..version import __version__
from . import bench, calibrate, demo, eval, features, figure, interpolate, invert, layers, plot, reencode, sample, synthesize, train, weights
from .deprecated import rewrite
from .repeats import check_repeats
from .options import flag

if hasattr(TyperArgument, "display_type_rich"):
    TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]
    # Typer 0.2x prints each argument's Python type (<list[Path]>) beside its METAVAR, which already says what it takes
if hasattr(TyperOption, "display_type_rich"):
    _option_type = TyperOption.display_type_rich
    TyperOption.display_type_rich = lambda self, ctx: None if self.is_flag else _option_type(self, ctx)  # type: ignore[method-assign]
    # ...and <bool> beside its own switches (--help, --install-completion), which take no value

app = typer.Typer(
    name="invertnet",
    help="Reconstruct images from a network's features with DeePSiM generators (Dosovitskiy & Brox, NIPS 2016): AlexNet and CaffeNet "
    "as in the paper, torchvision's VGG-16, ResNet-50, ViT-B/16 and others; train DeePSiM VAEs and autoencoders.",
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # not "rich": "[default: N]" in a help text is not a markup tag to strip
    no_args_is_help=True,
)


def _version(value: bool) -> None:
    if value:
        print(f"invertnet {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = flag(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Reconstruct images from a network's features with DeePSiM generators."""


for module in (train, calibrate, layers, features, invert, reencode, interpolate, sample, synthesize, eval, figure, plot, weights, demo, bench):
    module.register(app)


MEMORY_FLAGS = {
    **dict.fromkeys(("train", "eval", "demo", "bench", "features"), "a smaller --batch-size, fewer or smaller images"),
    "synthesize": "a smaller --population (cma) or fewer units",
}
"""What lowers a command's memory, by the flags it has; other commands: fewer or smaller images."""


def out_of_memory(command: str | None) -> str:
    """The out-of-memory advice for ``command``, naming only flags it has."""
    return f"out of memory: use {MEMORY_FLAGS.get(command or '', 'fewer or smaller images')}, or a device with more memory"


def _error(message: str, details: list[str] | None = None) -> int:
    """Print one line ``invertnet: error: ...`` on stderr (whatever newlines ``message`` holds), then each detail on an
    indented line of its own; return 1."""
    print(f"invertnet: error: {' '.join(str(message).split())}", file=sys.stderr)
    for line in details or []:
        print(f"  {line.replace(chr(10), ' ')}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code instead of raising."""
    args: list[str] = []
    try:
        args = rewrite(sys.argv[1:] if argv is None else argv)
        check_repeats(typer.main.get_command(app), args)
        result = app(args=args, prog_name="invertnet", standalone_mode=False)
    except InvertnetError as error:
        return _error(error.message, error.details)
    except OSError as error:  # the machine's side: a full or read-only disk, a permission, a path that is a file
        where = f": {error.filename}" if error.filename else ""
        return _error(f"{error.strerror or error}{where}")
    except MemoryError:
        return _error(out_of_memory(args[0] if args else None))
    except RuntimeError as error:  # torch's CUDA OutOfMemoryError is one; torch is not imported to name it
        if type(error).__name__ == "OutOfMemoryError" or "allocate memory" in str(error) or "not enough memory" in str(error):
            return _error(out_of_memory(args[0] if args else None))
        raise
    except typer.Abort:
        print("invertnet: aborted", file=sys.stderr)
        return 130
    except typer.Exit as done:
        return int(getattr(done, "exit_code", 0) or 0)
    except typer.TyperException as error:
        if type(error).__name__ == "NoArgsIsHelpError":  # a group named alone: its help is already printed
            return int(getattr(error, "exit_code", 2))
        message = error.format_message() if hasattr(error, "format_message") else str(error)
        print(f"invertnet: error: {message.replace('Value error, ', '')}", file=sys.stderr)
        return int(getattr(error, "exit_code", 2))
    return int(result or 0)
