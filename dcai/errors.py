"""The one base class for "your input is wrong" errors, and which other failures are the user's to fix
(a full disk, a read-only folder, a path that is a file): the CLI turns all of them into exit status 2
and one line."""

from __future__ import annotations

import errno


class InputError(ValueError):
    """Bad input: the message names the file (or key) and the problem."""


class RunError(InputError):
    """The run folder cannot be used (a file, read-only, full); the message names it and says why."""


# errno values that mean "your machine or your path", not "dcai is broken"
_ENV_ERRNOS = {
    errno.ENOSPC: "no space left on device (the disk is full)",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a path component is a file, not a folder",
    errno.EISDIR: "is a folder, not a file",
    errno.EEXIST: "already exists (a file where a folder was expected?)",
    errno.ENOENT: "not found",
}
# pyarrow's file errors carry no errno, only the system's words
_ENV_WORDS = {
    "No space left on device": errno.ENOSPC,
    "Disk quota exceeded": errno.EDQUOT,
    "Read-only file system": errno.EROFS,
    "Permission denied": errno.EACCES,
}


def describe_os_error(e: OSError) -> str:
    """A short reason for an OS error, in words a user acts on."""
    code = (
        e.errno if e.errno in _ENV_ERRNOS else next((c for w, c in _ENV_WORDS.items() if w in str(e)), None)
    )
    return _ENV_ERRNOS[code] if code is not None else (e.strerror or str(e).splitlines()[0])


def user_error(e: BaseException) -> str | None:
    """The one-line message when ``e`` is the user's to fix (bad input, full disk, read-only or wrong
    path, also when raised inside a Ray task), else None (a bug: let the traceback show)."""
    cause = getattr(e, "cause", None)  # a Ray task error carries the worker's exception
    if isinstance(cause, BaseException) and cause is not e:
        inner = user_error(cause)
        if inner is not None:
            return inner
    if isinstance(e, InputError):
        return str(e)
    if isinstance(e, OSError):
        known = e.errno in _ENV_ERRNOS or any(w in str(e) for w in _ENV_WORDS)
        if not known:
            return None
        where = e.filename or ""
        return f"{where}: {describe_os_error(e)}" if where else describe_os_error(e)
    return None
