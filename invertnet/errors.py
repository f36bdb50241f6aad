"""The one exception type of the library.

Library code raises :class:`InvertnetError` for anything a user can fix (a missing file, a
checkpoint for another layer, weights that cannot be had offline). The CLI turns it into one
line ``invertnet: error: ...`` on stderr and a non-zero exit code, followed by its details,
if any, one per indented line (where to put each file a command needs); Python callers can
catch it, and its ``str`` holds both.
"""

from __future__ import annotations

from collections.abc import Sequence


class InvertnetError(Exception):
    """A problem with the user's input or environment, with a message that says what to do.

    ``details``: short lines that follow the message (a list of sources and paths), each a
    line of its own on the command line rather than one long line.
    """

    def __init__(self, message: str, details: Sequence[str] = ()) -> None:
        self.message, self.details = str(message), [str(line) for line in details]
        super().__init__("\n".join([self.message, *(f"  {line}" for line in self.details)]))


def named(parameter: str) -> str:
    """A setting as an error names it for both its users: the Python parameter and its command-line flag (``lr (--lr)``)."""
    return f"{parameter} (--{parameter.replace('_', '-')})"
