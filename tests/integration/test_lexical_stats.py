"""The lexical index maintained by ingestion: postings, document frequencies and totals follow inserts and edits."""

from __future__ import annotations

import csv
from pathlib import Path

from ingest.cli import run_ingest
from newsindex.postings import Postings, postings_for
from newsindex.verify import verify


def _csv(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Title", "Date", "Link", "Content"])
        writer.writerows(rows)
    return path


def _all_postings(store) -> set[tuple[str, str]]:
    s = store.settings
    return {
        (r.term, r.article_id) for r in store.session.execute(f"SELECT term, article_id FROM {s.keyspace}.postings")
    }


A = ("Zorbalov joins Ajax", "Aug 1, 2023", "https://example.org/fictional/a", "Zorbalov signs for Ajax today.")
B = ("Ajax sign keeper", "Aug 2, 2023", "https://example.org/fictional/b", "Ajax have a new goalkeeper.")


def test_document_frequencies_follow_inserts_and_updates(settings, store, encoder, tmp_path) -> None:
    postings = Postings(store, settings.lexical_buckets)
    run_ingest(_csv(tmp_path / "v1.csv", [A, B]), settings, encoder=encoder)
    assert postings.read_dfs(["ajax", "zorbalov", "goalkeeper"]) == {"ajax": 2, "zorbalov": 1, "goalkeeper": 1}
    assert postings.read_corpus_stats().articles == 2
    # Edit B: drops "goalkeeper", adds "zorbalov". Re-running the same file again changes nothing.
    b2 = (B[0], B[1], B[2], "Ajax beat Zorbalov's old club.")
    for _ in range(2):
        run_ingest(_csv(tmp_path / "v2.csv", [A, b2]), settings, encoder=encoder)
        assert postings.read_dfs(["ajax", "zorbalov", "goalkeeper"]) == {"ajax": 2, "zorbalov": 2}
        assert not any(term == "goalkeeper" for term, _ in _all_postings(store))


def test_postings_hold_exactly_the_committed_versions_terms(settings, store, encoder, tmp_path) -> None:
    run_ingest(_csv(tmp_path / "v1.csv", [A, B]), settings, encoder=encoder)
    ids = [r.article_id for r in store.session.execute(f"SELECT article_id FROM {settings.keyspace}.articles")]
    expected = set()
    for article in store.stored_articles(ids).values():
        assert article.committed is not None and article.pending is None
        expected |= {(p.term, p.article_id) for p in postings_for(article.article_id, article.committed, 256)}
    assert len(ids) == 2 and _all_postings(store) == expected
    assert verify(store, Postings(store, settings.lexical_buckets)).ok
