"""JSON-lines encoding of Bluesky documents: one ``{"name": ..., "doc": ...}`` per line.

numpy scalars and arrays become plain JSON numbers and lists; NaN and infinities become ``null`` (strict
JSON), which readers turn back into NaN for numeric columns. Reading tolerates a half-written last line:
a process killed mid-write leaves at most one partial line, which is skipped, never fatal.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson

logger = logging.getLogger(__name__)

_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE


def _default(obj):
    """Values orjson does not know natively: non-contiguous arrays, numpy scalars of odd types, enums, sets."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if hasattr(obj, "value") and hasattr(obj, "name"):  # enum members
        return obj.value
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    return str(obj)


def encode(name: str, doc: dict) -> bytes:
    """One line (newline included) for one document."""
    return orjson.dumps({"name": name, "doc": doc}, default=_default, option=_OPTS)


def decode(line: bytes) -> tuple[str, dict]:
    """(document name, document) from one JSON line."""
    item = orjson.loads(line)
    return item["name"], item["doc"]


def read_documents(path: Path, offset: int = 0) -> Iterator[tuple[str, dict]]:
    """Documents of a run file, in order. Only complete lines count; a damaged line is skipped with a warning."""
    for _, name, doc in read_from(path, offset):
        yield name, doc


def read_from(path: Path, offset: int = 0, chunk: int = 1 << 20) -> Iterator[tuple[int, str, dict]]:
    """``(offset_after_line, name, doc)`` for each complete line from byte *offset* on.

    Streams the file in chunks so memory stays flat however large the run is. A trailing fragment without
    a newline (a write cut short) is not yielded; the caller may resume from the last offset later.
    """
    with open(path, "rb") as f:
        f.seek(offset)
        pos = offset
        tail = b""
        while True:
            block = f.read(chunk)
            if not block:
                break
            block = tail + block
            end = block.rfind(b"\n")
            if end < 0:
                tail = block
                continue
            tail = block[end + 1 :]
            for line in block[: end + 1].splitlines(keepends=True):
                pos += len(line)
                if not line.strip():
                    continue
                try:
                    name, doc = decode(line)
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    logger.warning("%s: skipping a damaged line ending at byte %d", path, pos)
                    continue
                yield pos, name, doc
