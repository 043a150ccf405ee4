from __future__ import annotations

import pytest

from ingest.plan import Shard, link_id, plan_rows
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
    assert (plan.duplicates, plan.over_limit, plan.articles) == (1, 0, 2)
    assert list(plan.lines) == [3, 4]
    assert [line for line in range(1, 7) if plan.wins(line)] == [3, 4]
    assert plan.last_line == 5


@pytest.mark.parametrize(
    "link", ["not a link", "/fictional/relative", "ftp://example.org/a", "https://", "http://[::1"]
)
def test_a_row_whose_link_is_not_a_url_is_left_for_the_quarantine(link: str) -> None:
    plan = plan_rows([row(2, link), row(3, "https://example.org/fictional/ok")], Shard())
    assert (plan.articles, plan.duplicates, plan.over_limit) == (1, 0, 0)
    assert link_id(link) is None
    assert not plan.wins(2) and plan.wins(3)


def test_plan_is_kept_as_flat_integer_arrays() -> None:
    rows = (row(i, f"https://example.org/fictional/{i % 500}") for i in range(2, 2002))
    plan = plan_rows(rows, Shard())
    assert plan.lines.typecode == "q" and plan.articles == 500
    assert plan.duplicates == 1500
    assert list(plan.lines) == list(range(1502, 2002))  # the last copy of each link


def test_shards_partition_the_articles() -> None:
    rows = [row(i, f"https://example.org/fictional/{i}") for i in range(2, 60)]
    parts = [{line for line in range(60) if plan_rows(rows, Shard(i, 3)).wins(line)} for i in range(3)]
    assert sum(len(p) for p in parts) == 58 and not (parts[0] & parts[1] or parts[1] & parts[2])


def test_limit_takes_the_first_links_each_at_its_last_copy() -> None:
    links = ["a", "b", "a", "c", "d", "b", "c"]
    rows = [row(i, f"https://example.org/fictional/{x}") for i, x in enumerate(links, start=2)]
    plan = plan_rows(rows, Shard(), limit=2)
    assert list(plan.lines) == [4, 7]  # a at line 4, b at line 7
    assert (plan.duplicates, plan.over_limit) == (2, 3)


def test_limit_caps_distinct_articles() -> None:
    rows = [row(i, f"https://example.org/fictional/{i}") for i in range(2, 12)]
    plan = plan_rows(rows, Shard(), limit=4)
    assert plan.articles == 4 and plan.over_limit == 6


def test_empty_plan() -> None:
    plan = plan_rows([], Shard())
    assert (plan.articles, plan.duplicates, plan.over_limit, plan.last_line) == (0, 0, 0, 0)
    assert not plan.wins(2)


@pytest.mark.parametrize("text", ["1", "3/3", "a/b", "-1/2"])
def test_bad_shard_specs_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        Shard.parse(text)
