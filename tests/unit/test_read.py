"""Reading the CSV: every bad record is set aside with its line number, the run goes on."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ingest.read import MAX_REREADS, parse_record, read_rows, write_quarantine
from ingest.records import Quarantined, RawRow
from newsindex.errors import InputError

DATA = Path(__file__).resolve().parents[1] / "data"
HEADER = "Title,Date,Link,Content\n"


def read(name: str, **kwargs: int) -> list[RawRow | Quarantined]:
    return list(read_rows(DATA / name, **kwargs))


def rows_of(items: list[RawRow | Quarantined]) -> list[RawRow]:
    return [item for item in items if isinstance(item, RawRow)]


def quarantined_of(items: list[RawRow | Quarantined]) -> list[Quarantined]:
    return [item for item in items if isinstance(item, Quarantined)]


def test_read_rows_returns_a_lazy_iterator() -> None:
    items = read_rows(DATA / "crlf.csv")
    assert isinstance(items, Iterator)
    assert isinstance(next(items), RawRow)


def test_crlf_file_reads_every_row_with_its_start_line() -> None:
    items = read("crlf.csv")
    assert [r.line for r in rows_of(items)] == [2, 3, 5]
    assert not quarantined_of(items)
    assert rows_of(items)[0].content.endswith("the club said.")


def test_crlf_inside_a_quoted_field_is_kept_for_clean_to_normalise() -> None:
    row = rows_of(read("crlf.csv"))[1]
    assert row.content.endswith("on deadline day.\r\nThe fee is undisclosed.")


def test_quoted_multiline_content_keeps_newlines_and_escaped_quotes() -> None:
    first, second = rows_of(read("multiline_quoted.csv"))
    assert '"He is "exactly" what we needed," he said.' in first.content
    assert first.content.count("\n") == 3
    assert (first.line, second.line) == (2, 6)


def test_final_line_without_newline_is_read() -> None:
    rows = rows_of(read("no_trailing_newline.csv"))
    assert [r.line for r in rows] == [2, 3]
    assert rows[-1].content.endswith("he told the club website.")


def test_header_only_file_yields_no_rows() -> None:
    assert read("header_only.csv") == []


def test_empty_file_raises_input_error_naming_the_header() -> None:
    with pytest.raises(InputError, match=r"empty.*Title,Date,Link,Content"):
        read("empty_file.csv")


def test_missing_file_raises_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot open"):
        list(read_rows(tmp_path / "nope.csv"))


def test_utf8_bom_is_stripped_from_the_header() -> None:
    rows = rows_of(read("bom.csv"))
    assert len(rows) == 1
    assert rows[0].title.startswith("Harbour City")


def test_wrong_header_names_expected_and_found_columns() -> None:
    with pytest.raises(InputError) as excinfo:
        read("wrong_header.csv")
    message = str(excinfo.value)
    assert "expected columns Title,Date,Link,Content" in message
    assert "found Headline,Published,URL,Body" in message


def test_columns_in_another_order_are_mapped_by_name() -> None:
    (row,) = rows_of(read("columns_reordered.csv"))
    assert row.title.startswith("Harbour City")
    assert row.date == "Mar 3, 2022"
    assert row.link.startswith("https://example.org/fictional/")


def test_latin1_row_is_quarantined_as_undecodable_and_the_rest_still_loads() -> None:
    items = read("latin1.csv")
    assert [r.line for r in rows_of(items)] == [2, 4]
    (bad,) = quarantined_of(items)
    assert bad.line == 3
    assert bad.reason.startswith("undecodable_bytes")
    assert "\\xa3" in bad.raw  # the latin-1 pound sign, shown rather than dropped


def test_nul_byte_row_is_quarantined() -> None:
    items = read("nul_byte.csv")
    (bad,) = quarantined_of(items)
    assert (bad.line, bad.reason) == (3, "nul_byte")
    assert len(rows_of(items)) == 2


def test_wrong_field_count_is_quarantined_with_both_counts() -> None:
    items = read("wrong_field_count.csv")
    reasons = {q.line: q.reason for q in quarantined_of(items)}
    assert reasons == {
        3: "wrong_field_count: 3 fields, expected 4",
        4: "wrong_field_count: 5 fields, expected 4",
    }
    assert [r.line for r in rows_of(items)] == [2, 5]


def test_missing_link_or_title_is_quarantined() -> None:
    items = read("missing_link.csv")
    assert [(q.line, q.reason) for q in quarantined_of(items)] == [
        (2, "missing_field: link"),
        (3, "missing_field: title"),
    ]
    assert [r.line for r in rows_of(items)] == [4]


def test_empty_content_is_quarantined_by_the_reader() -> None:
    items = read("empty_content.csv")
    assert [(q.line, q.reason) for q in quarantined_of(items)] == [
        (2, "missing_field: content"),
        (3, "missing_field: content"),
    ]


def test_unterminated_quote_is_quarantined_at_its_start_line_and_the_lines_after_it_are_read_again() -> None:
    items = read("unterminated_quote.csv")
    assert len(rows_of(items)) == 1
    first, second = quarantined_of(items)
    assert (first.line, second.line) == (3, 4)
    assert first.reason.startswith("unclosed_quote: a quoted field opened on this line runs to line 4")
    assert first.raw.startswith("Broken row") and "runs to EOF" not in first.raw
    assert second.reason.startswith("truncated_last_line") is False and second.reason.startswith("wrong_field_count")


def test_a_single_line_unterminated_at_the_end_is_a_truncated_last_line(tmp_path: Path) -> None:
    path = tmp_path / "cut.csv"
    path.write_text(HEADER + 'A,"Jan 1, 2022",https://x.example/a,Text.\nB,"Jan 2, 2022",https://x.example/b,"Cut sho')
    items = list(read_rows(path))
    assert [r.line for r in rows_of(items)] == [2]
    (bad,) = quarantined_of(items)
    assert bad.line == 3 and bad.reason.startswith("truncated_last_line: the file ends inside this record")
    assert "unterminated_quote" in bad.reason


def test_a_stray_quote_in_an_unquoted_field_does_not_swallow_the_next_rows(tmp_path: Path) -> None:
    path = tmp_path / "stray.csv"
    path.write_text(
        HEADER
        + 'He said "yes,"Jan 1, 2022",https://x.example/a,Text.\n'
        + 'B,"Jan 2, 2022",https://x.example/b,"Quoted, with a comma."\n'
        + "C,2022-01-03,https://x.example/c,Plain.\n"
    )
    items = list(read_rows(path))
    assert [(r.line, r.title) for r in rows_of(items)] == [(2, 'He said "yes'), (3, "B"), (4, "C")]


def test_an_unclosed_quote_mid_file_loses_only_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "unclosed.csv"
    path.write_text(
        HEADER
        + 'A,"Jan 1, 2022",https://x.example/a,"Never closed\n'
        + 'B,"Jan 2, 2022",https://x.example/b,"Quoted ""twice"" here."\n'
        + "C,2022-01-03,https://x.example/c,Plain.\n"
    )
    items = list(read_rows(path))
    assert [(q.line, q.reason.split(":")[0]) for q in quarantined_of(items)] == [(2, "unclosed_quote")]
    assert [(r.line, r.content) for r in rows_of(items)] == [(3, 'Quoted "twice" here.'), (4, "Plain.")]


def test_rereads_are_capped_so_a_file_of_unclosed_quotes_stays_linear(tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    path.write_text(
        HEADER + "".join(f'T{i},"Jan 1, 2022",https://x.example/{i},"open\n' for i in range(MAX_REREADS + 50))
    )
    items = list(read_rows(path))
    assert not rows_of(items)
    assert sum(q.reason.startswith("unclosed_quote") for q in quarantined_of(items)) == MAX_REREADS


def test_a_repeated_header_mid_file_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "joined.csv"
    path.write_text(
        HEADER + 'A,"Jan 1, 2022",https://x.example/a,Text.\n' + HEADER + "B,2022-01-02,https://x.example/b,T.\n"
    )
    items = list(read_rows(path))
    assert [(q.line, q.reason.split(":")[0]) for q in quarantined_of(items)] == [(3, "repeated_header")]
    assert [r.line for r in rows_of(items)] == [2, 4]


def test_huge_content_is_quarantined_and_later_rows_still_load(tmp_path: Path) -> None:
    path = tmp_path / "huge_content.csv"
    huge = "word " * 5_000
    path.write_text(
        HEADER
        + f'Huge,"Jan 1, 2022",https://example.org/fictional/huge,"{huge}"\n'
        + 'Small,"Jan 2, 2022",https://example.org/fictional/small,Fine.\n',
        encoding="utf-8",
    )
    items = list(read_rows(path, max_chars=1_000))
    (bad,) = quarantined_of(items)
    assert bad.line == 2
    assert bad.reason.startswith("too_large")
    assert len(bad.raw) <= 2000
    assert [r.title for r in rows_of(items)] == ["Small"]


def test_window_size_does_not_change_what_is_read() -> None:
    assert read("wrong_field_count.csv", chunk_rows=1) == read("wrong_field_count.csv", chunk_rows=256)


def test_blank_lines_between_records_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "blank_lines.csv"
    path.write_text(
        HEADER + 'A,"Jan 1, 2022",https://x.example/a,Text.\n\n\nB,"Jan 2, 2022",https://x.example/b,More.\n'
    )
    assert [(r.line, r.title) for r in rows_of(list(read_rows(path)))] == [(2, "A"), (5, "B")]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'A,"Jan 1, 2022",https://x.example/a,"bad "quote" inside"\n', "stray_quote"),
        (b'A,"Jan 1, 2022",https://x.example/a,"never closed\n', "malformed_csv"),
        (b"Title,Date,Link,Content\n", "repeated_header"),
        (b"A,Jan 1 2022,https://x.example/a\n", "wrong_field_count"),
        (b"\xff\xfeA,B,C,D\n", "undecodable_bytes"),
    ],
)
def test_parse_record_reports_a_machine_friendly_reason(data: bytes, reason: str) -> None:
    result = parse_record(7, data, (0, 1, 2, 3), 1_000)
    assert isinstance(result, Quarantined)
    assert result.line == 7
    assert result.reason.split(":")[0] == reason


def test_write_quarantine_appends_json_lines_with_truncated_raw(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "quarantine.jsonl"
    assert write_quarantine(target, [Quarantined(3, "nul_byte", "x" * 5000)]) == 1
    assert write_quarantine(target, [Quarantined(9, "bad_date: 'soon'", "Iâm raw")]) == 1
    lines = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [entry["line"] for entry in lines] == [3, 9]
    assert len(lines[0]["raw"]) == 2000
    assert lines[1] == {"line": 9, "reason": "bad_date: 'soon'", "raw": "Iâm raw"}


_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40)
_FILLED = _TEXT.filter(lambda t: t.strip() != "")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_FILLED, _TEXT, _FILLED, _FILLED), min_size=1, max_size=8))
def test_any_csv_the_csv_module_writes_reads_back_field_for_field_with_its_start_lines(
    rows: list[tuple[str, str, str, str]],
) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # CRLF line ends, so a field holding a lone \r or \n is quoted
    writer.writerow(["Title", "Date", "Link", "Content"])
    starts, line = [], 2
    for fields in rows:
        before = buffer.tell()
        writer.writerow(fields)
        starts.append(line)
        line += buffer.getvalue()[before:].count("\n")
    assume(all(sorted(f.strip().casefold() for f in r) != ["content", "date", "link", "title"] for r in rows))
    data = buffer.getvalue().encode("utf-8")
    items = list(_read_bytes(data))
    assert [(r.line, r.title, r.date, r.link, r.content) for r in rows_of(items)] == [
        (start, *fields) for start, fields in zip(starts, rows, strict=True)
    ]


def _read_bytes(data: bytes) -> list[RawRow | Quarantined]:
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".csv") as f:
        f.write(data)
        f.flush()
        return list(read_rows(f.name))


@pytest.mark.parametrize("where", ["escaped_quote", "field_start"])
def test_quotes_cut_by_the_64k_read_pieces_keep_their_meaning(tmp_path: Path, where: str) -> None:
    """A line is read in 64 KiB pieces: a `""` or an opening quote split between two must not change the record."""
    if where == "escaped_quote":  # the two quotes of `""` end one piece and start the next
        head = 'T,2022-01-01,https://x.example/a,"'
        content = "a" * (65535 - len(head)) + '""' + "b, c\nd"
        line = head + content + '"\n'
        expected = content.replace('""', '"')
    else:  # the comma ends one piece and the opening quote starts the next
        head = "T,2022-01-01,https://x.example/a" + "x" * (65535 - len("T,2022-01-01,https://x.example/a"))
        line = head + ',"quoted, with a comma\nand a line"\n'
        expected = "quoted, with a comma\nand a line"
    assert line[65535:65537] in ('""', ',"')
    path = tmp_path / "pieces.csv"
    path.write_text("Title,Date,Link,Content\n" + line + "B,2022-01-02,https://x.example/b,Next.\n")
    items = list(read_rows(path))
    assert quarantined_of(items) == []
    assert [(r.line, r.content) for r in rows_of(items)] == [(2, expected), (4, "Next.")]
