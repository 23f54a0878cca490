"""The one exception type the CLI turns into a one-line message and exit code 2, and the one way
another library's error is folded into such a line."""

import re


class UserError(Exception):
    """A problem the user can fix (bad input, missing file); the message says how."""


def one_line(e: BaseException, limit: int = 200) -> str:
    """``e``'s text for a one-line message: whitespace folded, a leading ``[Errno N]`` dropped, at most
    ``limit`` characters (cut at a word boundary, marked ``...``); the exception's type name when it has no text."""
    text = re.sub(r"^\[Errno -?\d+\] ", "", " ".join(str(e).split())) or type(e).__name__
    if len(text) <= limit:
        return text
    cut = text[: limit - 4]
    return (cut.rsplit(" ", 1)[0] if " " in cut else cut) + " ..."
