"""CSV → `RawRow`s, streamed, with bad records quarantined instead of killing the run.

The file is read as bytes and cut into records by hand (lines grouped until their double quotes
balance), so each record is decoded on its own: one undecodable byte or NUL sets aside that record,
with its line number, and the rest of the file still loads. Memory is bounded by one read window.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import BinaryIO

from ingest.records import Quarantined, RawRow
from newsindex.errors import InputError

__all__ = ["EXPECTED_COLUMNS", "parse_record", "read_rows", "write_quarantine"]

EXPECTED_COLUMNS = ("Title", "Date", "Link", "Content")
DEFAULT_MAX_CHARS = 200_000
RAW_PREVIEW_CHARS = 2000
_BOM = b"\xef\xbb\xbf"
_PIECE_BYTES = 1 << 16
_REQUIRED = ("title", "link", "content")

Columns = tuple[int, int, int, int]


def read_rows(
    path: str | Path, chunk_rows: int = 256, max_chars: int = DEFAULT_MAX_CHARS
) -> Iterator[RawRow | Quarantined]:
    """Yield one `RawRow` or `Quarantined` per record of the CSV at `path`, in file order.

    Records are read `chunk_rows` at a time, so memory stays near `chunk_rows` records whatever the
    file size; a record over `max_chars` is skipped without being held whole. Raises `InputError`
    (when iteration starts) if the file is missing, empty or has the wrong header.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, not {chunk_rows}")
    _allow_fields_up_to(max_chars)
    with _open(path) as f:
        records = _records(f, max_bytes=4 * max_chars + 4096)
        columns = _read_header(records, path)
        while window := list(islice(records, chunk_rows)):
            for line, data, status in window:
                item = _checked(line, data, status, columns, max_chars)
                if item is not None:
                    yield item


def parse_record(line: int, data: bytes, columns: Columns, max_chars: int) -> RawRow | Quarantined | None:
    """Decode and split one record's bytes; None for a blank line, which is not a record."""
    if not data.strip():
        return None
    if b"\x00" in data:
        return Quarantined(line, "nul_byte", _preview(data))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1].hex()
        return Quarantined(line, f"undecodable_bytes: 0x{bad} at byte {exc.start}", _preview(data))
    raw = text.rstrip("\r\n")[:RAW_PREVIEW_CHARS]
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        return Quarantined(line, f"malformed_csv: {exc}", raw)
    if len(rows) != 1:
        return Quarantined(line, f"malformed_csv: record splits into {len(rows)} rows", raw)
    fields = rows[0]
    if len(fields) != len(EXPECTED_COLUMNS):
        reason = f"wrong_field_count: {len(fields)} fields, expected {len(EXPECTED_COLUMNS)}"
        return Quarantined(line, reason, raw)
    size = sum(len(value) for value in fields)
    if size > max_chars:
        return Quarantined(line, f"too_large: {size} chars, max {max_chars}", raw)
    title, date, link, content = (fields[i] for i in columns)
    values = {"title": title, "link": link, "content": content}
    for name in _REQUIRED:
        if not values[name].strip():
            return Quarantined(line, f"missing_field: {name}", raw)
    return RawRow(line=line, title=title, date=date, link=link, content=content)


def write_quarantine(path: str | Path, items: Iterable[Quarantined]) -> int:
    """Append `items` to `path` as JSON lines `{line, reason, raw}` (raw truncated); returns the count."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with target.open("a", encoding="utf-8") as out:
        for item in items:
            record = {"line": item.line, "reason": item.reason, "raw": item.raw[:RAW_PREVIEW_CHARS]}
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count


# --- internals -----------------------------------------------------------------------------------


def _open(path: str | Path) -> BinaryIO:
    try:
        return Path(path).open("rb")
    except OSError as exc:
        raise InputError(f"cannot open input file {str(path)!r}: {exc.strerror or exc}") from None


def _records(f: BinaryIO, max_bytes: int) -> Iterator[tuple[int, bytes, str]]:
    """Yield `(start_line, bytes, status)` per record; status is ok, too_large or unterminated.

    A record ends at a newline once its double quotes balance (a quoted field may span lines; an
    escaped `""` adds two). Bytes past `max_bytes` are counted but not kept.
    """
    line = 1
    start = 1
    parts: list[bytes] = []
    size = 0
    quotes = 0
    while piece := f.readline(_PIECE_BYTES):
        if size < max_bytes:
            parts.append(piece)
        size += len(piece)
        quotes += piece.count(b'"')
        if not piece.endswith(b"\n"):
            continue  # a long line read in pieces, or the last line of the file
        line += 1
        if quotes % 2 == 0:
            yield start, b"".join(parts), "ok" if size <= max_bytes else "too_large"
            start, parts, size, quotes = line, [], 0, 0
    if parts:
        status = "unterminated" if quotes % 2 else ("ok" if size <= max_bytes else "too_large")
        yield start, b"".join(parts), status


def _read_header(records: Iterator[tuple[int, bytes, str]], path: str | Path) -> Columns:
    """Index of each expected column in the file's header; raises InputError naming what was found."""
    expected = ",".join(EXPECTED_COLUMNS)
    first = next(records, None)
    if first is None or not first[1].strip():
        raise InputError(f"{path}: the file is empty; expected a header line {expected}")
    data = first[1].removeprefix(_BOM)
    try:
        found = next(csv.reader(io.StringIO(data.decode("utf-8"), newline="")), [])
    except (UnicodeDecodeError, csv.Error):
        raise InputError(f"{path}: the first line is not a CSV header; expected {expected}") from None
    names = [name.strip().casefold() for name in found]
    wanted = [name.casefold() for name in EXPECTED_COLUMNS]
    if sorted(names) != sorted(wanted):
        raise InputError(
            f"{path}: wrong header: expected columns {expected}, found {','.join(found) or '(none)'}; "
            "is this the 90min transfer-news CSV?"
        )
    title, date, link, content = (names.index(name) for name in wanted)
    return title, date, link, content


def _checked(line: int, data: bytes, status: str, columns: Columns, max_chars: int) -> RawRow | Quarantined | None:
    if status == "too_large":
        return Quarantined(line, f"too_large: over {max_chars} chars", _preview(data))
    if status == "unterminated":
        return Quarantined(line, "unterminated_quote: the file ends inside a quoted field", _preview(data))
    return parse_record(line, data, columns, max_chars)


def _preview(data: bytes) -> str:
    """Readable start of a record for the quarantine file; bad bytes shown as \\xNN."""
    text = data[: RAW_PREVIEW_CHARS * 4].decode("utf-8", errors="backslashreplace").replace("\x00", "\\x00")
    return text.rstrip("\r\n")[:RAW_PREVIEW_CHARS]


def _allow_fields_up_to(max_chars: int) -> None:
    # The csv module refuses fields over 128 KiB by default; our own limit is max_chars.
    if csv.field_size_limit() < max_chars + 1:
        csv.field_size_limit(max_chars + 1)


def check_header(path: str | Path) -> None:
    """Fail fast (InputError) on a missing file or a wrong header, before any connection is made."""
    next(iter(read_rows(path, chunk_rows=1)), None)
