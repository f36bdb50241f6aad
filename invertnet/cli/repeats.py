"""Options that take one value are given once: click keeps the last of ``--json a.json --json b.json`` in silence.

Checked on the command line as typed (after the old spellings are rewritten), against the
subcommand's declared options, before anything runs. Options declared to repeat (``eval
--weights``) and switches (given twice, they say the same) are left alone.
"""

from __future__ import annotations

from typing import Any

from ..errors import InvertnetError


def _subcommand(group: Any, argv: list[str]) -> tuple[Any, list[str]]:
    """The (sub)command ``argv`` names and the words after its name."""
    command, rest = group, argv
    while hasattr(command, "commands") and rest and rest[0] in command.commands:
        command, rest = command.commands[rest[0]], rest[1:]
    return command, rest


def check_repeats(group: Any, argv: list[str]) -> None:
    """Refuse an option of one value given more than once, by any of its names (``--out`` and ``-o``).

    ``group``: the click command of the whole CLI (Typer's, whose click it may vendor: read by attribute)."""
    command, words = _subcommand(group, argv)
    single = [param for param in command.params
              if param.param_type_name == "option" and not (param.multiple or param.is_flag or getattr(param, "count", False))]
    names = {name: param for param in single for name in (*param.opts, *param.secondary_opts)}
    given: dict[str, list[str]] = {}
    index = 0
    while index < len(words):
        word = words[index]
        if word == "--":
            break
        name = word.partition("=")[0] if word.startswith("--") else word[:2] if word.startswith("-") and len(word) > 1 else word
        param = names.get(name)
        if param is not None:
            given.setdefault(param.name or name, []).append(name)
            if name == word:  # "--out PATH", "-o PATH": the next word is the value, whatever it looks like
                index += 1
        index += 1
    for spellings in given.values():
        if len(spellings) > 1:
            primary = max(spellings, key=len)
            forms = set(spellings)
            shown = f" (as {' and '.join(sorted(forms, key=len))})" if len(forms) > 1 else ""
            raise InvertnetError(f"{primary} is given {len(spellings)} times{shown}: it takes one value, and all but the last "
                                 "would be ignored; give it once")
