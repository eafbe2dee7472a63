"""File names as bytes: listing inputs whose names are not valid UTF-8.

TensorFlow's file system layer (and so `tfx.dsl.io.fileio`) hands names to
Python as UTF-8 `str`: one file named `b"\\xff.png"` on a local disk makes
`tf.io.gfile.glob` raise UnicodeDecodeError for the whole pattern. Object
stores (gs://, s3://) only hold UTF-8 names, so such names exist only on
local or mounted POSIX disks. There, and only after TensorFlow refused, these
functions list with Python's `os` (names decoded with `surrogateescape`, the
way `os.fsdecode` does), matching TensorFlow's glob rules: each `*`, `?` or
`[...]` matches within one path component, and hidden files match too.

Such a name is never read or written: ImageExampleGen quarantines it with
reason `undecodable_name` and reports it in `escaped` form (`b\\xff.png`),
which names the exact bytes and is plain UTF-8 for JSON and logs.
"""

from __future__ import annotations

import fnmatch
import os
import re

from tfx.dsl.io import fileio

_MAGIC = re.compile(r"[*?[]")
_SCHEME = re.compile(r"^[a-z0-9]+://")
# os.fsdecode maps each undecodable byte 0x80-0xff to U+DC80-U+DCFF.
_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")


def is_undecodable(path: str) -> bool:
    """True when `path` holds bytes that are not UTF-8 (surrogate-escaped)."""
    return bool(_ESCAPED_BYTE.search(path))


def escaped(path: str) -> str:
    """Printable, faithful form of a name: undecodable bytes as `\\xNN`."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _local_glob(pattern: str) -> list[str]:
    """TensorFlow's glob semantics over a local disk, names as surrogate-escaped str."""
    parts = pattern.split(os.sep)
    fixed = 0
    while fixed < len(parts) and not _MAGIC.search(parts[fixed]):
        fixed += 1
    if fixed == len(parts):
        return [pattern] if os.path.lexists(pattern) else []
    base = os.sep.join(parts[:fixed])
    if not base and pattern.startswith(os.sep):
        base = os.sep
    paths = [base]
    for part in parts[fixed:]:
        matched = []
        for parent in paths:
            if not _MAGIC.search(part):
                candidate = os.path.join(parent, part)
                if os.path.lexists(candidate):
                    matched.append(candidate)
                continue
            try:
                children = os.listdir(parent or ".")
            except (NotADirectoryError, FileNotFoundError, PermissionError):
                continue
            matched.extend(
                os.path.join(parent, name)
                for name in sorted(children)
                if fnmatch.fnmatchcase(name, part)
            )
        paths = matched
    return paths


def glob(pattern: str) -> list[str]:
    """`fileio.glob`, falling back to a local listing when a name is not UTF-8.

    Raises:
      ValueError: a non-local pattern whose listing is not UTF-8 (no object
        store TensorFlow supports allows that, so this names the pattern).
    """
    try:
        return fileio.glob(pattern)
    except UnicodeDecodeError as e:
        if _SCHEME.match(pattern):
            raise ValueError(
                f"listing {pattern} returned a name that is not UTF-8 ({e.reason} at byte "
                f"{e.start}); rename the file, or read the data from a local path"
            ) from e
        return _local_glob(pattern)


def isdir(path: str) -> bool:
    """`fileio.isdir`, or `os.path.isdir` for a (local) undecodable name."""
    if is_undecodable(path):
        return os.path.isdir(path)
    return fileio.isdir(path)


def size_and_mtime(path: str) -> tuple[int, int]:
    """(bytes, mtime in whole seconds) as `fileio.stat` gives them; any name."""
    if is_undecodable(path):
        stat = os.stat(path)
        return stat.st_size, int(stat.st_mtime)
    stat = fileio.stat(path)
    return stat.length, int(stat.mtime_nsec / 1_000_000_000)
