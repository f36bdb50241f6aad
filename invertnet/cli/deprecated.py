"""Spellings of 0.1 that still work for one release, each with a warning naming its replacement.

They are rewritten on the command line before it is parsed, so help lists only the current vocabulary and
each command's code sees one name per concept.
"""

from __future__ import annotations

import sys

from ..errors import InvertnetError

REMOVED_IN = "0.3"

RENAMED: dict[tuple[str, str], str] = {
    ("interpolate", "--steps"): "--frames",
    ("reencode", "-n"): "--iterations",
    ("eval", "--optimize-iterations"): "--iterations",
    ("calibrate", "--images"): "--count",
    ("bench", "--steps"): "--repeats",
}
"""(subcommand, old flag) -> the flag that now means it."""
RENAMED_EVERYWHERE: dict[str, str] = {"--alexnet": "--encoder"}
"""Old flags renamed in every subcommand (0.2's ``--alexnet``: the encoder is no longer AlexNet alone)."""

SWITCH_TO_VALUE: dict[tuple[str, str], list[str]] = {("figure methods", "--optimize"): ["--method", "optimize"]}
"""(subcommand, old switch) -> the option and value that now say it (``figure methods --optimize`` is ``--method optimize``,
as in ``eval`` and ``invert``; with ``--weights`` the generators' rows stay: ``--method generator`` is added)."""

BARE_JSON = ("calibrate", "weights list")
"""Where ``--json`` was a switch that printed JSON: alone, it now means ``--json -``."""


def _subcommand(argv: list[str]) -> str:
    """The subcommand's words (``eval``, ``weights list``): the leading words before any option."""
    words = []
    for word in argv:
        if word.startswith("-"):
            break
        words.append(word)
        if word not in ("weights", "figure"):
            break
    return " ".join(words)


def _renamed(command: str, word: str) -> tuple[str, str, str] | None:
    """(old flag, new flag, the rest of the word) where ``word`` is an old spelling: ``--steps``, ``--steps=3``, ``-n``, ``-n2``."""
    name, eq, value = word.partition("=")
    new = RENAMED.get((command, name), RENAMED_EVERYWHERE.get(name))
    if new is not None:
        return name, new, eq + value
    short = word[:2]
    if not word.startswith("--") and len(word) > 2 and (command, short) in RENAMED:  # a short flag's attached value
        return short, RENAMED[(command, short)], "=" + word[2:]
    return None


def rewrite(argv: list[str]) -> list[str]:
    """``argv`` in the current vocabulary; a warning on stderr for each old spelling replaced.

    An old spelling given with its new one (``interpolate --steps 3 --frames 4``) is refused: one of them would be ignored.
    """
    command = _subcommand(argv)
    out: list[str] = []
    for i, word in enumerate(argv):
        found = _renamed(command, word)
        if found is not None:
            old, new, rest = found
            if any(other == new or other.startswith(new + "=") for other in argv):
                raise InvertnetError(f"{old} is the old spelling of {new}, which is given too: give {new} alone")
            _warn(f"{command} {old} is now {new}")
            out.append(f"{new}{rest}")
            continue
        if (command, word) in SWITCH_TO_VALUE:
            new_words = SWITCH_TO_VALUE[(command, word)]
            _warn(f"{command} {word} is now {' '.join(new_words)}")
            out += new_words
            if any(other in ("--weights", "-w") or other.startswith("--weights=") for other in argv) and "generator" not in argv:
                out += ["--method", "generator"]
            continue
        if command in BARE_JSON and word == "--json" and (i + 1 == len(argv) or argv[i + 1].startswith("-") and argv[i + 1] != "-"):
            _warn(f"{command} --json now takes where to write: --json - (stdout) or --json PATH")
            out += ["--json", "-"]
            continue
        out.append(word)
    return out


def _warn(what: str) -> None:
    print(f"invertnet: warning: {what}; the old spelling is deprecated and will be removed in {REMOVED_IN}", file=sys.stderr)
