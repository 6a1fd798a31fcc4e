"""Names from a database that become paths: bare file names only (pure)."""

from __future__ import annotations

from appion.base.errors import InputFileError


def plain_file_name(name: object, what: str) -> str:
    """``name`` when it is a bare file name (no ``/``, not ``.``/``..``, no NUL or other
    control character); else an :class:`InputFileError` naming ``what``."""
    text = "" if name is None else str(name)
    if (not text or text in (".", "..") or "/" in text
            or any(ord(char) < 32 or ord(char) == 127 for char in text)):
        raise InputFileError(f"{what} {text!r} is not a plain file name (it is empty, holds "
                             "'/' or a control character, or is '..'); refusing to use it "
                             "as a path")
    return text
