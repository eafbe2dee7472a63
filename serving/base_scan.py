"""What a model folder holds besides the versions it serves, and when it last changed.

A serving base is written by people and tools as well as by the pusher: a stray
folder (`²`, a name that is not UTF-8, `backup`) or a version left without the
push marker by a killed push is reported once and skipped, never fatal.
"""

from __future__ import annotations

import os

from contracts.serving_base import has_marker, is_version_name


def printable(path: str) -> str:
    """A path for the log: bytes that are not UTF-8 (surrogate-escaped by os.listdir) as
    backslash escapes, so writing the line cannot fail."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def stray_entries(base_path: str, complete: list[int]) -> list[str]:
    """One message per folder under `base_path` that is neither hidden nor served-able:
    a name that is not a version number, or a version without the push marker while
    `complete` (the marked versions) is not empty."""
    try:
        names = os.listdir(base_path)
    except OSError:
        return []  # a missing model folder is reported where versions are listed
    messages = []
    for name in sorted(names):
        path = os.path.join(base_path, name)
        if name.startswith(".") or not os.path.isdir(path):
            continue
        if not is_version_name(name):
            messages.append(f"{printable(path)}: not a version number; skipped")
        elif complete and int(name) not in complete and not has_marker(path):
            messages.append(
                f"{printable(path)}: no push-completion marker while other versions have one; "
                "not served (a push killed between rename and marker; the next push removes it)"
            )
    return messages


def folder_stamp(path: str) -> float:
    """Newest modification time of any file or folder under `path`."""
    newest = 0.0
    for dirpath, _, filenames in os.walk(path):
        for name in [dirpath, *(os.path.join(dirpath, f) for f in filenames)]:
            try:
                newest = max(newest, os.stat(name).st_mtime)
            except FileNotFoundError:
                continue
    return newest
