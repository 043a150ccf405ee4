"""CSV → `RawRow`s, streamed, with bad records quarantined instead of killing the run.

The file is read as bytes and cut into records by hand, following the CSV quoting rules (a `"`
opens a quoted field only at the start of a field, `""` inside one is an escaped quote), so a
quoted field may span lines while a stray quote in an unquoted field cannot swallow the rest of
the file. Each record is decoded on its own: one undecodable byte or NUL sets aside that record,
with its line number, and the rest of the file still loads. A record that spans lines and cannot
be read as one row (an unclosed quote) sets aside its first line only, and the lines after it are
read again. Memory is bounded by one record, itself capped by `max_chars`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ingest.records import Quarantined, RawRow
from newsindex.errors import InputError

__all__ = ["EXPECTED_COLUMNS", "check_header", "parse_record", "read_rows", "write_quarantine"]

EXPECTED_COLUMNS = ("Title", "Date", "Link", "Content")
DEFAULT_MAX_CHARS = 200_000
RAW_PREVIEW_CHARS = 2000
MAX_REREADS = 100  # unclosed quotes re-read per file; past that a broken record is set aside whole
_BOM = b"\xef\xbb\xbf"
_PIECE_BYTES = 1 << 16
_REQUIRED = ("title", "link", "content")
# Quarantine kinds that say the record's structure is broken (so its lines may be re-read).
_STRUCTURAL = ("malformed_csv", "stray_quote", "wrong_field_count", "too_large", "unterminated_quote")
_HEADER = sorted(name.casefold() for name in EXPECTED_COLUMNS)

Columns = tuple[int, int, int, int]


def read_rows(
    path: str | Path, chunk_rows: int = 256, max_chars: int = DEFAULT_MAX_CHARS
) -> Iterator[RawRow | Quarantined]:
    """Yield one `RawRow` or `Quarantined` per record of the CSV at `path`, in file order.

    The reader holds one record at a time whatever the file size (`chunk_rows` only has to be
    positive; callers size their own windows with it), and a record over `max_chars` is set aside
    without being held whole. Raises `InputError` (when iteration starts) if the path cannot be
    read, or the file is empty or has the wrong header.
    """
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be at least 1, not {chunk_rows}")
    _allow_fields_up_to(max_chars)
    with _open(path) as f:
        splitter = _Splitter(f, max_bytes=4 * max_chars + 4096)
        columns = _read_header(splitter, path)
        for record in splitter:
            item = _checked(record, columns, max_chars)
            if isinstance(item, Quarantined) and _kind(item) in _STRUCTURAL and splitter.reread(record):
                last = record.end_line
                yield Quarantined(
                    record.line,
                    f"unclosed_quote: a quoted field opened on this line runs to line {last} without forming a row "
                    f"({_kind(item)}); the lines after this one were read again",
                    _preview(record.first_line),
                )
            elif isinstance(item, Quarantined) and record.ends_file and _kind(item) in _STRUCTURAL:
                # The file stops mid-record: say so, the record's own fault is secondary.
                reason = f"truncated_last_line: the file ends inside this record, with no newline ({item.reason})"
                yield Quarantined(item.line, reason, item.raw)
            elif item is not None:
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
        return Quarantined(line, f"undecodable_bytes: 0x{bad} at byte {exc.start} (not UTF-8)", _preview(data))
    raw = text.rstrip("\r\n")[:RAW_PREVIEW_CHARS]
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        if "expected after '\"'" in str(exc):
            return Quarantined(line, 'stray_quote: a " inside a quoted field must be doubled ("")', raw)
        return Quarantined(line, f"malformed_csv: {exc}", raw)
    if len(rows) != 1:
        return Quarantined(line, f"malformed_csv: record splits into {len(rows)} rows", raw)
    fields = rows[0]
    if len(fields) != len(EXPECTED_COLUMNS):
        reason = f"wrong_field_count: {len(fields)} fields, expected {len(EXPECTED_COLUMNS)}"
        return Quarantined(line, reason, raw)
    if sorted(value.strip().casefold() for value in fields) == _HEADER:
        return Quarantined(line, "repeated_header: the header line again (files joined together?)", raw)
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


def check_header(path: str | Path) -> None:
    """Fail fast (InputError) on an unreadable path or a wrong header, before any connection is made."""
    next(iter(read_rows(path, chunk_rows=1)), None)


# --- the record splitter -------------------------------------------------------------------------

# Where the scan is inside the current field.
_START, _PLAIN, _QUOTED, _QUOTE = range(4)  # field start, unquoted, inside quotes, a quote inside quotes
_DQUOTE = 0x22


def _scan(piece: bytes, state: int) -> int:
    """The state after `piece`, following the csv module's rules; a record ends at a newline
    reached in any state but `_QUOTED`. Work is per field and per quote, not per byte."""
    i, n = 0, len(piece)
    while i < n:
        if state == _QUOTED:
            j = piece.find(b'"', i)
            if j < 0:
                return _QUOTED
            state, i = _QUOTE, j + 1
        elif state == _PLAIN:
            j = piece.find(b",", i)
            if j < 0:
                return _PLAIN
            state, i = _START, j + 1
        elif piece[i] == _DQUOTE:  # _START opens a quoted field; in _QUOTE it is an escaped ""
            state, i = _QUOTED, i + 1
        else:  # anything else starts an unquoted field, or follows a closing quote
            state = _PLAIN
    return state


@dataclass(frozen=True)
class _Record:
    line: int  # first line (1-based)
    end_line: int  # last line
    data: bytes  # at most max_bytes of it
    status: str  # ok, too_large or unterminated (the file ends inside a quoted field)
    first_line: bytes  # the first line (capped), for the quarantine of a re-read record
    reread_at: int  # byte offset just after the first line
    ends_file: bool  # the file ends in this record with no newline after it


class _Splitter:
    """Records of a binary file; `reread` rewinds to the second line of a record that spanned lines."""

    def __init__(self, f: BinaryIO, max_bytes: int) -> None:
        self._f = f
        self._max_bytes = max_bytes
        self._line = 1
        self._offset = 0
        self._rereads = 0

    def __iter__(self) -> Iterator[_Record]:
        while (record := self._next()) is not None:
            yield record

    def reread(self, record: _Record) -> bool:
        """Read again from the line after `record`'s first one; False if it was one line, or too often."""
        if record.end_line == record.line or self._rereads >= MAX_REREADS or not self._f.seekable():
            return False
        self._rereads += 1
        self._f.seek(record.reread_at)
        self._offset, self._line = record.reread_at, record.line + 1
        return True

    def _next(self) -> _Record | None:
        start, parts, size, state = self._line, [], 0, _START
        first_line, reread_at = b"", -1
        while piece := self._f.readline(_PIECE_BYTES):
            if size < self._max_bytes:
                parts.append(piece)
            size += len(piece)
            self._offset += len(piece)
            state = _scan(piece, state)
            if not piece.endswith(b"\n"):
                continue  # a long line read in pieces, or the last line of the file
            if reread_at < 0:
                first_line, reread_at = b"".join(parts)[: 4 * RAW_PREVIEW_CHARS], self._offset
            self._line += 1
            if state != _QUOTED:
                status = "ok" if size <= self._max_bytes else "too_large"
                return _Record(start, self._line - 1, b"".join(parts), status, first_line, reread_at, False)
        if not parts:
            return None
        data = b"".join(parts)
        ends_file = not data.endswith(b"\n")
        if reread_at < 0:
            first_line, reread_at = data[: 4 * RAW_PREVIEW_CHARS], self._offset
        status = "unterminated" if state == _QUOTED else ("ok" if size <= self._max_bytes else "too_large")
        end = self._line if ends_file else self._line - 1
        return _Record(start, end, data, status, first_line, reread_at, ends_file)


# --- internals -----------------------------------------------------------------------------------


def _open(path: str | Path) -> BinaryIO:
    target = Path(path)
    if target.is_dir():
        raise InputError(f"{str(path)!r} is a directory; give the path of a CSV file")
    try:
        return target.open("rb")
    except OSError as exc:
        raise InputError(f"cannot open input file {str(path)!r}: {exc.strerror or exc}") from None


def _read_header(records: Iterable[_Record], path: str | Path) -> Columns:
    """Index of each expected column in the file's header; raises InputError naming what was found."""
    expected = ",".join(EXPECTED_COLUMNS)
    first = next(iter(records), None)
    if first is None or not first.data.strip():
        raise InputError(f"{path}: the file is empty; expected a header line {expected}")
    data = first.data.removeprefix(_BOM)
    try:
        found = next(csv.reader(io.StringIO(data.decode("utf-8"), newline="")), [])
    except (UnicodeDecodeError, csv.Error):
        hint = _not_text_hint(data)
        raise InputError(f"{path}: the first line is not a CSV header ({hint}); expected {expected}") from None
    names = [name.strip().casefold() for name in found]
    wanted = [name.casefold() for name in EXPECTED_COLUMNS]
    if sorted(names) != sorted(wanted):
        if any(name.startswith(("http://", "https://")) for name in names):
            raise InputError(
                f"{path}: the header line is missing (line 1 is already an article); "
                f"add the line {expected} at the top of the file"
            )
        raise InputError(
            f"{path}: wrong header: expected columns {expected}, found {','.join(found) or '(none)'}; "
            "is this the 90min transfer-news CSV?"
        )
    title, date, link, content = (names.index(name) for name in wanted)
    return title, date, link, content


def _not_text_hint(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "it is UTF-16: save it as UTF-8"
    if data.startswith(b"\x1f\x8b"):
        return "it is gzip-compressed: gunzip it first"
    return "is it UTF-8 text?"


def _checked(record: _Record, columns: Columns, max_chars: int) -> RawRow | Quarantined | None:
    if record.status == "too_large":
        return Quarantined(record.line, f"too_large: over {max_chars} chars", _preview(record.data))
    if record.status == "unterminated":
        reason = "unterminated_quote: the file ends inside a quoted field (truncated file?)"
        return Quarantined(record.line, reason, _preview(record.data))
    return parse_record(record.line, record.data, columns, max_chars)


def _kind(item: Quarantined) -> str:
    return item.reason.split(":", 1)[0]


def _preview(data: bytes) -> str:
    """Readable start of a record for the quarantine file; bad bytes shown as \\xNN."""
    text = data[: RAW_PREVIEW_CHARS * 4].decode("utf-8", errors="backslashreplace").replace("\x00", "\\x00")
    return text.rstrip("\r\n")[:RAW_PREVIEW_CHARS]


def _allow_fields_up_to(max_chars: int) -> None:
    # The csv module refuses fields over 128 KiB by default; our own limit is max_chars.
    if csv.field_size_limit() < max_chars + 1:
        csv.field_size_limit(max_chars + 1)
