"""Checksummed JSON files, written atomically.

Layout: one header line, then the body::

    {"format": "mcstudy-point", "format_version": 1, "sha256": "<hex>", "bytes": 1234}
    { ...body as indented, key-sorted JSON... }

The SHA-256 covers the body bytes exactly as written, so any damage (a flipped bit, a
truncated copy, an edit by hand) is detected before the body is trusted. Writes go to a
temporary file in the same directory, are fsynced and renamed over the target: a reader
sees the old file or the complete new one, never a half file, even if the writer is
killed with SIGKILL or the node dies (a damaged file would fail its checksum anyway).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Any

from mcstudy.storage.atomic import FILE_MODE, PARTIAL_SUFFIX, atomic_write_bytes, file_kind
from mcstudy.storage.errors import CheckedFileError

MAX_BYTES = 64 << 20
"""Largest checked file read (a point record is a few KB; a study record grows with
the sweep): anything bigger is not one of ours."""


def dumps_body(body: dict[str, Any]) -> bytes:
    """The canonical bytes of a body (sorted keys, no NaN: non-finite floats must be
    encoded by the caller)."""
    return (json.dumps(body, sort_keys=True, indent=1, allow_nan=False) + "\n").encode()


def encode_checked(kind: str, version: int, body: dict[str, Any]) -> bytes:
    """Header line + body bytes of a checked file."""
    raw = dumps_body(body)
    header = {
        "format": kind,
        "format_version": version,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "bytes": len(raw),
    }
    return json.dumps(header, sort_keys=True).encode() + b"\n" + raw


def write_checked(path: Path, kind: str, version: int, body: dict[str, Any]) -> Path:
    """Write a checked file atomically (fsynced before the rename)."""
    return atomic_write_bytes(path, encode_checked(kind, version, body))


def create_checked(path: Path, kind: str, version: int, body: dict[str, Any]) -> bool:
    """Create a checked file only if ``path`` does not exist (atomic create-if-absent:
    the complete file is linked into place). Returns False if it already existed."""
    path = Path(path)
    data = encode_checked(kind, version, body)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX, dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
    finally:
        Path(tmp).unlink(missing_ok=True)
    return True


def decode_checked(data: bytes, kind: str, version: int, where: str) -> dict[str, Any]:
    """Verify and parse the bytes of a checked file; CheckedFileError names the problem."""
    head, sep, raw = data.partition(b"\n")
    if not sep:
        raise CheckedFileError(f"{where}: not an {kind} file (no header line; truncated?)")
    try:
        header = json.loads(head)
    except (ValueError, UnicodeDecodeError):
        raise CheckedFileError(f"{where}: not an {kind} file (unparsable header)") from None
    if not isinstance(header, dict) or header.get("format") != kind:
        raise CheckedFileError(f"{where}: not an {kind} file (format {header!r:.80})")
    if header.get("format_version") != version:
        raise CheckedFileError(
            f"{where}: {kind} format version {header.get('format_version')!r} is not "
            f"supported (expected {version})"
        )
    if header.get("bytes") != len(raw):
        raise CheckedFileError(
            f"{where}: damaged {kind} file: {len(raw)} body bytes, header says "
            f"{header.get('bytes')!r} (truncated or appended to)"
        )
    if hashlib.sha256(raw).hexdigest() != header.get("sha256"):
        raise CheckedFileError(f"{where}: damaged {kind} file: SHA-256 checksum mismatch")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise CheckedFileError(f"{where}: damaged {kind} file: unparsable body") from None
    if not isinstance(body, dict):
        raise CheckedFileError(f"{where}: damaged {kind} file: body is not an object")
    return body


def read_checked(path: Path, kind: str, version: int) -> dict[str, Any]:
    """Read and verify a checked file (CheckedFileError if missing, foreign or damaged)."""
    path = Path(path)
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode):
            raise CheckedFileError(f"{path}: is {file_kind(st.st_mode)}, not a regular file")
        if st.st_size > MAX_BYTES:
            raise CheckedFileError(f"{path}: {st.st_size} bytes: too large for an {kind} file")
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise CheckedFileError(f"{path}: file not found") from None
    except OSError as exc:
        raise CheckedFileError(f"{path}: cannot read ({exc.strerror})") from None
    return decode_checked(data, kind, version, str(path))
