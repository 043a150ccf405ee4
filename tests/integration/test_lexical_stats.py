"""BM25 statistics maintained by ingestion: postings and document frequencies follow inserts and edits."""

from __future__ import annotations

import csv
from pathlib import Path

from ingest.cli import run_ingest
from newsindex.lexical import read_corpus_stats, read_dfs


def _csv(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Title", "Date", "Link", "Content"])
        writer.writerows(rows)
    return path


def test_document_frequencies_follow_inserts_and_updates(settings, store, encoder, tmp_path) -> None:
    a = ("Zorbalov joins Ajax", "Aug 1, 2023", "https://example.org/fictional/a", "Zorbalov signs for Ajax today.")
    b = ("Ajax sign keeper", "Aug 2, 2023", "https://example.org/fictional/b", "Ajax have a new goalkeeper.")
    run_ingest(_csv(tmp_path / "v1.csv", [a, b]), settings, encoder=encoder)
    assert read_dfs(store, ["ajax", "zorbalov", "goalkeeper"]) == {"ajax": 2, "zorbalov": 1, "goalkeeper": 1}
    assert read_corpus_stats(store).articles == 2
    # Edit b: drops "goalkeeper", adds "zorbalov". Re-running the same file again changes nothing.
    b2 = (b[0], b[1], b[2], "Ajax beat Zorbalov's old club.")
    for _ in range(2):
        run_ingest(_csv(tmp_path / "v2.csv", [a, b2]), settings, encoder=encoder)
        assert read_dfs(store, ["ajax", "zorbalov", "goalkeeper"]) == {"ajax": 2, "zorbalov": 2}
