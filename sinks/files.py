"""Files and folders leadpipe writes: private whatever the umask, never through a symlink.

Every directory is created 0700 (all missing levels, not only the last);
every file is written to a fresh temporary name beside its target
(``O_CREAT | O_EXCL | O_NOFOLLOW``, 0600) and renamed over it, so an
existing file's mode, a symlink planted at the target, or a reader that
opened the old file can never receive what was meant to be private.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents as 0700; return it.

    Raises:
        OSError: a level of the path exists and is not a directory.
    """
    for directory in reversed([path, *path.parents]):
        if not directory.exists():
            directory.mkdir(mode=0o700)
            os.chmod(directory, 0o700)  # whatever the umask said
    return path


@contextlib.contextmanager
def private_writer(path: Path, mode: str = "w", **kwargs) -> Iterator[IO]:
    """A handle onto a fresh 0600 file that becomes ``path`` (by rename) when the block ends cleanly;
    a symlink at ``path`` is replaced, never followed; on an error ``path`` is left as it was."""
    private_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_private(path: Path, data: bytes | str) -> Path:
    """Write ``data`` to ``path`` as a new 0600 file (see :func:`private_writer`)."""
    with private_writer(path, "wb") as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)
    return path
