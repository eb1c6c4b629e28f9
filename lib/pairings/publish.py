"""Writing a file others read (an index, a summary, a figure, a record, a model card) whole or not at all: into a
temporary file beside it, flushed to disk, then renamed over the old one, so that a full disk, a kill or a crash
leaves the last good file as it was. A failure names the file and the cause in one line."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


class PublishError(OSError):
    """A file could not be written; the previous one, if any, is untouched."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()


def write(path: str | os.PathLike, data: str | bytes, encoding: str = "utf-8") -> Path:
    """``data`` into ``path``, atomically (temporary file + rename in the same folder)."""
    path = Path(path)
    raw = data.encode(encoding) if isinstance(data, str) else data
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        kept = "; the previous file is kept" if path.exists() else ""
        raise PublishError(err.errno, f"{path}: not written ({err.strerror or err}){kept}") from None
    return path
