"""The index's schema and its manifest.

Tables (all in one keyspace):
- articles: one row per article. Its committed columns (content_hash, passage_count, doc_len,
  term_freqs) are written *last*, once the article's passages and postings are acknowledged, so a row
  with the current content hash means "fully ingested" (what makes ingestion resumable). Before any
  of those writes, the `pending_*` columns record what is about to be written, so a run killed at any
  point leaves a record of every row it may have written, and the next run removes what is stale.
- passages: partition = article, clustering = passage number, so replacing or deleting an article's
  passages is one partition operation. SAI indexes on the vector (dot_product: vectors are unit
  length), on the publication date (date filters inside the ANN query) and on the set of normalised
  terms (`CONTAINS` keyword constraints).
- postings, postings_df, corpus_stats: the lexical index behind BM25 (see newsindex.lexical).
- index_manifest: the model, dimension, similarity and prefixes the vectors were made with, and the
  lexical layout (bucket count, reference length) the postings were written with.

DDL is built as plain strings by pure functions, so the unit tests can read them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from newsindex.errors import SchemaMismatch
from newsindex.lexical import REFERENCE_AVG_LEN
from newsindex.profiles import ModelProfile
from newsindex.settings import Settings

SIMILARITY = "dot_product"
MANIFEST_KEY = "index"
SCHEMA_VERSION = 2  # 2: bucketed, impact-ordered postings and pending_* intent columns (1: term_postings)


@dataclass(frozen=True)
class Manifest:
    model: str
    dimension: int
    similarity: str
    query_prefix: str
    passage_prefix: str
    schema_version: int = 1
    lexical_buckets: int = 0
    reference_avg_len: float = 0.0

    @classmethod
    def for_profile(cls, profile: ModelProfile, lexical_buckets: int = 256) -> Manifest:
        return cls(
            profile.name,
            profile.dimension,
            SIMILARITY,
            profile.query_prefix,
            profile.passage_prefix,
            SCHEMA_VERSION,
            lexical_buckets,
            REFERENCE_AVG_LEN,
        )

    def differences(self, other: Manifest) -> list[str]:
        mine, theirs = asdict(self), asdict(other)
        return [f"{k}: index has {theirs[k]!r}, configured {mine[k]!r}" for k in mine if mine[k] != theirs[k]]


def keyspace_cql(settings: Settings) -> str:
    return f"CREATE KEYSPACE IF NOT EXISTS {settings.keyspace} WITH replication = {settings.replication}"


def table_cql(settings: Settings, dimension: int) -> list[str]:
    """CREATE TABLE / INDEX statements, in the order they must run."""
    ks, art, pas = settings.keyspace, settings.articles_table, settings.passages_table
    post, man = settings.postings_table, settings.manifest_table
    return [
        f"CREATE TABLE IF NOT EXISTS {ks}.{man} (key text PRIMARY KEY, manifest text, created_at timestamp)",
        f"CREATE TABLE IF NOT EXISTS {ks}.{art} ("
        " article_id text PRIMARY KEY, link text, title text, published date,"
        " content_hash text, passage_count int, doc_len int, term_freqs map<text, int>, ingested_at timestamp,"
        " pending_hash text, pending_passages int, pending_doc_len int, pending_terms map<text, int>)",
        f"CREATE TABLE IF NOT EXISTS {ks}.{pas} ("
        " article_id text, chunk_no int, title text, link text, published date, body text,"
        f" terms set<text>, vector vector<float, {dimension}>,"
        " PRIMARY KEY ((article_id), chunk_no))",
        f"CREATE TABLE IF NOT EXISTS {ks}.{post} (bucket int, term text, impact float, article_id text,"
        " tf int, doc_len int, published date, PRIMARY KEY ((bucket), term, impact, article_id))"
        " WITH CLUSTERING ORDER BY (term ASC, impact DESC, article_id ASC)",
        f"CREATE TABLE IF NOT EXISTS {ks}.{post}_df (term text PRIMARY KEY, df int)",
        f"CREATE TABLE IF NOT EXISTS {ks}.corpus_stats (key text PRIMARY KEY, articles bigint, total_len bigint,"
        " updated_at timestamp)",
        f"CREATE CUSTOM INDEX IF NOT EXISTS {pas}_vector_idx ON {ks}.{pas} (vector)"
        f" USING 'StorageAttachedIndex' WITH OPTIONS = {{'similarity_function': '{SIMILARITY}'}}",
        f"CREATE CUSTOM INDEX IF NOT EXISTS {pas}_published_idx ON {ks}.{pas} (published) USING 'StorageAttachedIndex'",
        f"CREATE CUSTOM INDEX IF NOT EXISTS {pas}_terms_idx ON {ks}.{pas} (VALUES(terms)) USING 'StorageAttachedIndex'",
    ]


def drop_cql(settings: Settings) -> list[str]:
    ks = settings.keyspace
    names = [
        settings.passages_table,
        settings.articles_table,
        settings.postings_table,
        f"{settings.postings_table}_df",
        "corpus_stats",
        settings.manifest_table,
        "term_postings",  # schema version 1
        "term_postings_df",
    ]
    return [f"DROP TABLE IF EXISTS {ks}.{name}" for name in names]


def read_manifest(session: Any, settings: Settings) -> Manifest | None:
    """The manifest stored in the keyspace, or None when the index does not exist yet."""
    from cassandra import InvalidRequest

    try:
        row = session.execute(
            f"SELECT manifest FROM {settings.keyspace}.{settings.manifest_table} WHERE key = %s",
            (MANIFEST_KEY,),
        ).one()
    except InvalidRequest:  # keyspace or table missing
        return None
    if row is None:
        return None
    return Manifest(**json.loads(row.manifest))


def check_manifest(stored: Manifest | None, wanted: Manifest) -> None:
    """Refuse to mix vectors from different models (or prefixes) in one index."""
    if stored is None or stored == wanted:
        return
    raise SchemaMismatch(
        "the index in this keyspace was built with a different model setup ("
        + "; ".join(wanted.differences(stored))
        + "). Use the same NEWS_MODEL, or rebuild the index with `news-search ingest PATH --recreate` "
        "(drops and re-encodes everything), or point NEWS_KEYSPACE at another keyspace."
    )


def ensure_schema(session: Any, settings: Settings, profile: ModelProfile, recreate: bool = False) -> Manifest:
    """Create keyspace, tables and indexes if missing; record or check the manifest."""
    wanted = Manifest.for_profile(profile, settings.lexical_buckets)
    if not settings.is_astra:
        session.execute(keyspace_cql(settings))
    if recreate:
        for statement in drop_cql(settings):
            session.execute(statement)
    else:
        check_manifest(read_manifest(session, settings), wanted)
    for statement in table_cql(settings, profile.dimension):
        session.execute(statement, timeout=120)
    if read_manifest(session, settings) is None:
        session.execute(
            f"INSERT INTO {settings.keyspace}.{settings.manifest_table} (key, manifest, created_at)"
            " VALUES (%s, %s, toTimestamp(now())) IF NOT EXISTS",
            (MANIFEST_KEY, json.dumps(asdict(wanted))),
        )
    check_manifest(read_manifest(session, settings), wanted)
    return wanted


def wait_for_index(session: Any, settings: Settings, profile: ModelProfile, timeout_s: float = 300.0) -> Manifest:
    """For shard workers 1..N-1: wait until shard 0 has created the schema, then check it.

    Two clients creating the same tables at once can leave Cassandra 5.0 with two table ids for one
    table, so only one shard (0) runs DDL; the others wait for its manifest.
    """
    import time

    deadline = time.monotonic() + timeout_s
    while (stored := read_manifest(session, settings)) is None:
        if time.monotonic() >= deadline:
            raise SchemaMismatch(
                f"no index in keyspace {settings.keyspace!r} after {timeout_s:.0f} s: shard 0 creates it; start "
                "`--shard 0/N` first (or once before the others)"
            )
        time.sleep(1.0)
    check_manifest(stored, Manifest.for_profile(profile, stored.lexical_buckets or settings.lexical_buckets))
    return stored


def require_index(session: Any, settings: Settings, profile: ModelProfile) -> Manifest:
    """For readers: the index must exist and match the configured model."""
    stored = read_manifest(session, settings)
    if stored is None:
        raise SchemaMismatch(
            f"no index found in keyspace {settings.keyspace!r}; ingest some news first "
            "(`news-search ingest data/demo_news.csv`)"
        )
    check_manifest(stored, Manifest.for_profile(profile, stored.lexical_buckets or settings.lexical_buckets))
    return stored
