"""The CSV manifest ImageExampleGen reads (`path,label`, header required): its
encoding rule, checked by ingest and by `vrl run image`'s pre-run checks alike."""

from __future__ import annotations

import codecs

COLUMNS = ("path", "label")
"""Columns a manifest's header must name (more are allowed)."""


def decode_manifest(data: bytes, manifest_path: str) -> str:
    """UTF-8 text of a manifest, with or without a byte-order mark.

    Raises:
      ValueError: naming the file, line and byte when it is not UTF-8.
    """
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ValueError(
            f"{manifest_path}:{line}: CSV manifest is not UTF-8 (byte 0x{data[e.start]:02x}); "
            "save it as UTF-8 (with or without a byte-order mark)"
        ) from e
