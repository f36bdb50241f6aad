"""The one exception type of the library.

Library code raises :class:`InvertnetError` for anything a user can fix (a missing file, a
checkpoint for another layer, weights that cannot be had offline). The CLI turns it into a
single line on stderr and a non-zero exit code; Python callers can catch it.
"""


class InvertnetError(Exception):
    """A problem with the user's input or environment, with a message that says what to do."""
