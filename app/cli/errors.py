"""The one error a command raises for a user's mistake: `main` prints it as one line.

A wrong path, a URL that does not answer, an option that makes no sense: the user can
fix these, so they get one sentence and exit code 2, never a traceback. The sentence
names what was given (the file, the URL) so the user sees which one to fix.
"""

from __future__ import annotations

__all__ = ["EXIT_USAGE", "UserError", "describe_os_error"]

#: the exit code of every user error (argparse uses it for its own usage errors too)
EXIT_USAGE = 2


class UserError(Exception):
    """A mistake the user can fix; its message is the one line `main` prints."""


def describe_os_error(exc: OSError, what: str | None = None) -> str:
    """`exc` as a sentence: 'No such file or directory: proof.png', without errno noise."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    name = what if what is not None else exc.filename
    return f"{reason}: {name}" if name is not None else reason
