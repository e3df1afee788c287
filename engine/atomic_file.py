"""Replace a file atomically the way an ordinary write would leave it.

Writing to a temporary file and renaming it over the target means readers
see the old or the new file, never half of one. But ``mkstemp`` creates the
file 0600 and a rename replaces a symlink by a plain file. So the new file
gets the mode an ordinary ``open(path, "w")`` would give (an existing
file's mode, else ``0666`` less the umask), and a symlink is written
through: its target is replaced, the link stays.
"""

from __future__ import annotations

import os
import stat
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask (read by setting and restoring it; serialised)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def write_target(path: Path) -> Path:
    """The file a write to ``path`` really changes: a symlink's (final) target."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def new_file_mode(target: Path) -> int:
    """The mode the replacement should have: ``target``'s, else 0666 less the umask."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        return 0o666 & ~current_umask()


@contextmanager
def replacing(path: str | Path, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path`` (see module doc)."""
    target = write_target(Path(path))
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, new_file_mode(target))
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    """Replace ``path`` by ``text`` (UTF-8), on disk before the rename; the folder is made."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as tmp, tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
