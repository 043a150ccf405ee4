"""The foundation's smoke path: real model vectors in a real SAI dot-product index."""

from __future__ import annotations

import datetime as dt

import pytest

from newsindex.errors import SchemaMismatch
from newsindex.profiles import ModelProfile
from newsindex.schema import ensure_schema, read_manifest

PASSAGES = [
    ("a1", "Chelsea have agreed a £58m fee with Southampton for the 19-year-old midfielder."),
    ("a2", "The goalkeeper swapped Everton for Aston Villa in a straight exchange of reserve keepers."),
    ("a3", "Liverpool handed their full-back a new contract running until 2028."),
    ("a4", "Real Madrid, PSG and Arsenal are all tracking the Palmeiras teenager, a prolific young forward."),
]


def _write(store, encoder) -> None:
    vectors = encoder.encode_passages([text for _, text in PASSAGES])
    statement = store.insert_passage_stmt()
    for (article_id, text), vector in zip(PASSAGES, vectors, strict=True):
        store.session.execute(
            statement,
            (
                article_id,
                0,
                text[:30],
                f"https://x/{article_id}",
                dt.date(2023, 1, 1),
                text,
                {"x"},
                store.vector_param(vector),
            ),
        )


def test_ann_orders_by_server_dot_product_and_finds_paraphrase_first(settings, store, encoder) -> None:
    ensure_schema(store.session, settings, encoder.profile)
    _write(store, encoder)
    query = encoder.encode_query("which big clubs want a young Brazilian striker?")
    hits = store.ann(query, 4)
    assert hits[0].article_id == "a4"
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    # Cassandra's similarity_dot_product is (1 + dot) / 2 for unit vectors: check against numpy.
    vectors = dict(zip([a for a, _ in PASSAGES], encoder.encode_passages([t for _, t in PASSAGES]), strict=True))
    for hit in hits:
        assert hit.score == pytest.approx((1 + float(vectors[hit.article_id] @ query)) / 2, abs=2e-3)


def test_index_uses_dot_product_similarity(settings, store, encoder) -> None:
    ensure_schema(store.session, settings, encoder.profile)
    rows = store.session.execute(
        "SELECT index_name, options FROM system_schema.indexes WHERE keyspace_name = %s", (settings.keyspace,)
    )
    options = {r.index_name: r.options for r in rows}
    assert options[f"{settings.passages_table}_vector_idx"]["similarity_function"] == "dot_product"


def test_manifest_refuses_another_model(settings, store, encoder) -> None:
    ensure_schema(store.session, settings, encoder.profile)
    assert read_manifest(store.session, settings).model == encoder.profile.name
    other = ModelProfile("all-MiniLM-L6-v2", "", "", 256, 384)
    with pytest.raises(SchemaMismatch, match="--recreate"):
        ensure_schema(store.session, settings, other)
    ensure_schema(store.session, settings, other, recreate=True)
    assert read_manifest(store.session, settings).model == "all-MiniLM-L6-v2"
