"""The bad-input corpus through read -> clean -> plan (no node, no model): every bad row is quarantined
with its line and reason or repaired, the good rows around it still load, and file-level problems are
an InputError that names the fix. tests/integration/test_bad_inputs.py ingests the same files for real."""

from __future__ import annotations

import re
import socket
import tracemalloc
from pathlib import Path

import pytest

from ingest.clean import clean_row
from ingest.plan import Shard, plan_rows
from ingest.read import read_rows
from ingest.records import Article, Quarantined, RawRow
from newsindex.errors import InputError
from tests.bad_inputs import BAD, FILE_CASES, NOTE, ROW_CASES, Case, huge_field_csv


def outcome(path: Path) -> tuple[list[int], list[tuple[int, str]], int]:
    """(lines ingested, (line, reason) quarantined, duplicates), as the pipeline decides them for shard 0/1."""
    plan = plan_rows(read_rows(path), Shard())
    ingested: list[int] = []
    quarantined: list[tuple[int, str]] = []
    for item in read_rows(path):
        if isinstance(item, Quarantined):
            quarantined.append((item.line, item.reason))
            continue
        cleaned = clean_row(item)
        if isinstance(cleaned, Quarantined):
            quarantined.append((cleaned.line, cleaned.reason))
        elif plan.wins(item.line):
            ingested.append(item.line)
    return ingested, quarantined, plan.duplicates


def test_every_file_of_the_corpus_has_a_case_and_there_are_at_least_25_kinds() -> None:
    files = {p.stem for p in BAD.glob("*.csv")}
    assert files == {c.name for c in ROW_CASES} | set(FILE_CASES)
    generated = ["huge_field", "directory", "unreadable_path", "missing_path"]  # made by the tests themselves
    assert len(files) + len(generated) >= 25
    assert (BAD / "README.md").read_text().count("`") >= 2 * len(files)  # each file is described
    for name in files:
        assert f"`{name}.csv`" in (BAD / "README.md").read_text(), name


@pytest.mark.parametrize("case", ROW_CASES, ids=lambda c: c.name)
def test_bad_rows_are_quarantined_with_line_and_reason_and_the_rest_loads(case: Case) -> None:
    ingested, quarantined, duplicates = outcome(case.path)
    assert ingested == list(case.ingested)
    assert [line for line, _ in quarantined] == [line for line, _ in case.quarantined]
    for (_, reason), (_, expected) in zip(quarantined, case.quarantined, strict=True):
        assert reason.startswith(expected), reason
    assert duplicates == case.duplicates


@pytest.mark.parametrize("case", ROW_CASES, ids=lambda c: c.name)
def test_corpus_rows_are_fictional_and_on_example_org(case: Case) -> None:
    rows = [r for r in read_rows(case.path) if isinstance(r, RawRow)]
    for row in rows:
        assert NOTE in row.content or not row.content.strip() or "?" in row.content, row.line
        if re.match(r"https?://", row.link.strip(), re.IGNORECASE):
            assert re.match(r"https?://example\.org[:/]", row.link.strip(), re.IGNORECASE), row.link


@pytest.mark.parametrize("case", [c for c in ROW_CASES if c.contains or c.lacks], ids=lambda c: c.name)
def test_repaired_rows_keep_what_matters_and_drop_what_does_not(case: Case) -> None:
    cleaned = [clean_row(r) for r in read_rows(case.path) if isinstance(r, RawRow)]
    articles = {a.link: a for a in cleaned if isinstance(a, Article)}
    for slug, text in case.contains:
        matches = [a for link, a in articles.items() if link == case.link(slug)]
        assert any(text in a.title + "\n" + a.content for a in matches), (slug, text)
    for slug, text in case.lacks:  # (a duplicate link maps to its last copy, as the plan picks it)
        article = articles[case.link(slug)]
        assert text not in article.title + "\n" + article.content, (slug, text)


@pytest.mark.parametrize(("name", "message"), sorted(FILE_CASES.items()))
def test_unreadable_files_raise_an_input_error_naming_the_problem(name: str, message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        list(read_rows(BAD / f"{name}.csv"))


def test_a_directory_instead_of_a_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory; give the path of a CSV file"):
        list(read_rows(tmp_path))


def test_a_missing_path_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cannot open input file .*No such file"):
        list(read_rows(tmp_path / "nope.csv"))


def test_an_unreadable_path_is_an_input_error(tmp_path: Path) -> None:
    # A Unix socket cannot be opened as a file, even by root (chmod 000 would not stop root).
    path = tmp_path / "news.csv"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    try:
        with pytest.raises(InputError, match="cannot open input file"):
            list(read_rows(path))
    finally:
        server.close()


def test_a_10mb_field_is_quarantined_without_being_held_and_the_next_row_loads(tmp_path: Path) -> None:
    path = huge_field_csv(tmp_path / "huge_field.csv")
    assert path.stat().st_size > 10 * 1024 * 1024
    tracemalloc.start()
    try:
        items = list(read_rows(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [(i.line, type(i).__name__) for i in items] == [(2, "RawRow"), (3, "Quarantined"), (4, "RawRow")]
    assert isinstance(items[1], Quarantined) and items[1].reason.startswith("too_large")
    assert len(items[1].raw) <= 2000
    assert peak < 4 * 1024 * 1024  # one capped record (800 KB) plus pieces, never the 10 MB line
