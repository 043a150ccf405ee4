"""The index's schema and its manifest.

Tables (all in one keyspace):
- articles: one row per article, written *after* its passages, so a present row with the current
  content hash means "fully ingested" (what makes ingestion resumable).
- passages: partition = article, clustering = passage number, so replacing or deleting an article's
  passages is one partition operation and never leaves orphans. SAI indexes on the vector
  (dot_product: vectors are unit length), on the publication date (date filters inside the ANN
  query) and on the set of normalised terms (`CONTAINS` keyword constraints).
- term_postings / corpus_stats: the lexical statistics behind BM25 (see newsindex.lexical).
- index_manifest: the model, dimension, similarity and prefixes the vectors were made with.

DDL is built as plain strings by pure functions, so the unit tests can read them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from newsindex.errors import SchemaMismatch
from newsindex.profiles import ModelProfile
from newsindex.settings import Settings

SIMILARITY = "dot_product"
MANIFEST_KEY = "index"


@dataclass(frozen=True)
class Manifest:
    model: str
    dimension: int
    similarity: str
    query_prefix: str
    passage_prefix: str
    schema_version: int = 1

    @classmethod
    def for_profile(cls, profile: ModelProfile) -> Manifest:
        return cls(profile.name, profile.dimension, SIMILARITY, profile.query_prefix, profile.passage_prefix)

    def differences(self, other: Manifest) -> list[str]:
        mine, theirs = asdict(self), asdict(other)
        return [f"{k}: index has {theirs[k]!r}, configured {mine[k]!r}" for k in mine if mine[k] != theirs[k]]


def keyspace_cql(settings: Settings) -> str:
    return f"CREATE KEYSPACE IF NOT EXISTS {settings.keyspace} WITH replication = {settings.replication}"


def table_cql(settings: Settings, dimension: int) -> list[str]:
    """CREATE TABLE / INDEX statements, in the order they must run."""
    ks, art, pas = settings.keyspace, settings.articles_table, settings.passages_table
    terms, man = settings.terms_table, settings.manifest_table
    return [
        f"CREATE TABLE IF NOT EXISTS {ks}.{man} (key text PRIMARY KEY, manifest text, created_at timestamp)",
        f"CREATE TABLE IF NOT EXISTS {ks}.{art} ("
        " article_id text PRIMARY KEY, link text, title text, published date,"
        " content_hash text, passage_count int, doc_len int, term_freqs map<text, int>,"
        " ingested_at timestamp)",
        f"CREATE TABLE IF NOT EXISTS {ks}.{pas} ("
        " article_id text, chunk_no int, title text, link text, published date, body text,"
        f" terms set<text>, vector vector<float, {dimension}>,"
        " PRIMARY KEY ((article_id), chunk_no))",
        f"CREATE TABLE IF NOT EXISTS {ks}.{terms} (term text, article_id text, PRIMARY KEY ((term), article_id))",
        f"CREATE TABLE IF NOT EXISTS {ks}.{terms}_df (term text PRIMARY KEY, df int)",
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
        settings.terms_table,
        f"{settings.terms_table}_df",
        "corpus_stats",
        settings.manifest_table,
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
    wanted = Manifest.for_profile(profile)
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


def require_index(session: Any, settings: Settings, profile: ModelProfile) -> Manifest:
    """For readers: the index must exist and match the configured model."""
    stored = read_manifest(session, settings)
    if stored is None:
        raise SchemaMismatch(
            f"no index found in keyspace {settings.keyspace!r}; ingest some news first "
            "(`news-search ingest data/demo_news.csv`)"
        )
    check_manifest(stored, Manifest.for_profile(profile))
    return stored
