from __future__ import annotations

import pytest

from ingest.plan import Shard, plan_rows
from ingest.records import Quarantined, RawRow
from newsindex.errors import SchemaMismatch
from newsindex.profiles import ModelProfile
from newsindex.schema import Manifest, check_manifest, table_cql
from newsindex.settings import Settings
from newsindex.store import ann_cql

S = Settings()


def test_ann_query_keeps_filters_and_ordering_in_one_statement() -> None:
    cql = ann_cql(S, date_from=True, date_to=True, n_terms=2)
    assert cql == (
        "SELECT article_id, chunk_no, title, link, published, body, similarity_dot_product(vector, ?) AS score "
        "FROM news.passages WHERE published >= ? AND published <= ? AND terms CONTAINS ? AND terms CONTAINS ? "
        "ORDER BY vector ANN OF ? LIMIT ?"
    )
    assert "WHERE" not in ann_cql(S, date_from=False, date_to=False, n_terms=0)


def test_schema_creates_dot_product_vector_date_and_terms_indexes() -> None:
    ddl = "\n".join(table_cql(S, 384))
    assert "vector vector<float, 384>" in ddl
    assert "{'similarity_function': 'dot_product'}" in ddl
    assert "(published) USING 'StorageAttachedIndex'" in ddl
    assert "(VALUES(terms)) USING 'StorageAttachedIndex'" in ddl
    assert "PRIMARY KEY ((article_id), chunk_no)" in ddl


def test_manifest_mismatch_names_the_difference_and_the_fix() -> None:
    e5 = Manifest.for_profile(ModelProfile("intfloat/e5-small-v2", "query: ", "passage: ", 512, 384))
    mini = Manifest.for_profile(ModelProfile("all-MiniLM-L6-v2", "", "", 256, 384))
    check_manifest(None, e5)
    check_manifest(e5, e5)
    with pytest.raises(SchemaMismatch, match=r"model: index has 'all-MiniLM-L6-v2'.*--recreate"):
        check_manifest(mini, e5)


def row(line: int, link: str) -> RawRow:
    return RawRow(line, "t", "Aug 1, 2023", link, "c")


def test_plan_keeps_the_last_copy_of_a_duplicate_link() -> None:
    rows = [
        row(2, "https://example.org/fictional/a"),
        row(3, "https://example.org/fictional/b"),
        row(4, "http://example.org/fictional/a/"),
        Quarantined(5, "bad", ""),
    ]
    plan = plan_rows(rows, Shard())
    assert plan.duplicates == 1 and sorted(plan.winners.values()) == [3, 4]


def test_shards_partition_the_articles() -> None:
    rows = [row(i, f"https://example.org/fictional/{i}") for i in range(2, 60)]
    parts = [set(plan_rows(rows, Shard(i, 3)).winners) for i in range(3)]
    assert sum(len(p) for p in parts) == 58 and not (parts[0] & parts[1] or parts[1] & parts[2])


def test_limit_caps_distinct_articles() -> None:
    rows = [row(i, f"https://example.org/fictional/{i}") for i in range(2, 12)]
    assert len(plan_rows(rows, Shard(), limit=4).winners) == 4


@pytest.mark.parametrize("text", ["1", "3/3", "a/b", "-1/2"])
def test_bad_shard_specs_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        Shard.parse(text)
