"""One line per user error, also when the error was raised inside a DataLoader worker."""

from __future__ import annotations


def user_message(error: BaseException) -> str:
    """The message a user sees for a bad-input error (``StoreError``, ``SourceError``, ...).

    torch re-raises an exception from a loader worker as the same type whose message is
    "Caught X in DataLoader worker process N. Original Traceback ... X: <message>"; the user needs
    only that original message (e.g. the corrupt chunk's array, frame and the verify command)."""
    text = str(error).strip()
    if "DataLoader worker process" not in text:
        return text
    last = text.splitlines()[-1]
    prefix = f"{type(error).__name__}: "
    return last[len(prefix):] if last.startswith(prefix) else last
