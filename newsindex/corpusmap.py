"""The corpus map: every article as a point, built once per index version and kept in the state dir.

An index version is fingerprinted by its article count, its latest `ingested_at` and its manifest
(model, prefixes): any ingest that adds, changes or removes an article gives a new fingerprint.
Drawing the page reads the fingerprint (one aggregate query) and the stored map (a parquet file);
only a new fingerprint builds. A build after a small ingest places the new or changed articles on
the previous map (`projection.place`, no t-SNE); once placed articles exceed
`ProjectionParams.refit_share` of the map, or the model changed, the whole map is fitted again.

Files, under `<state_dir>/maps/<keyspace>/`: `<fingerprint>.parquet` (one row per article: id, title,
date, link, x, y) and `<fingerprint>.npz` (the layout for later placements, plus the metadata),
written to temporary names and renamed, npz last: a map is complete when its npz exists.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from newsindex import projection
from newsindex.schema import Manifest
from newsindex.settings import Settings
from newsindex.text import terms_of

log = logging.getLogger(__name__)

__all__ = [
    "CorpusMap",
    "IndexVersion",
    "articles_with_term",
    "build_map",
    "ensure_map",
    "extend",
    "index_version",
    "load_map",
]

COLUMNS = ["article_id", "title", "date", "month", "link", "passages", "ingested_ms", "x", "y"]
_BUILD_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


@dataclass(frozen=True)
class IndexVersion:
    articles: int
    latest_ingest_ms: int
    manifest: Manifest

    @property
    def fingerprint(self) -> str:
        payload = json.dumps([self.articles, self.latest_ingest_ms, asdict(self.manifest)], sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


@dataclass
class CorpusMap:
    fingerprint: str
    frame: pd.DataFrame  # COLUMNS, one row per article
    method: str  # projection.Layout.method
    built_at: str  # ISO time
    build_seconds: float
    placed: int = 0  # articles put on the map incrementally since the last full fit
    layout: projection.Layout | None = field(default=None, repr=False)

    @property
    def articles(self) -> int:
        return len(self.frame)


# --- reading the index ---------------------------------------------------------------------------
def index_version(session: Any, settings: Settings, manifest: Manifest) -> IndexVersion:
    """The current index version: one aggregate query over the articles table."""
    row = session.execute(
        f"SELECT COUNT(*) AS n, MAX(ingested_at) AS latest FROM {settings.keyspace}.{settings.articles_table}",
        timeout=max(settings.request_timeout_s, 60.0),
    ).one()
    latest = row.latest
    return IndexVersion(int(row.n), _ms(latest), manifest)


def article_rows(session: Any, settings: Settings) -> pd.DataFrame:
    """Every article's id, title, date, link, passage count and ingest time (a full scan, paged)."""
    from cassandra.query import SimpleStatement

    statement = SimpleStatement(
        f"SELECT article_id, title, link, published, passage_count, ingested_at "
        f"FROM {settings.keyspace}.{settings.articles_table}",
        fetch_size=5000,
    )
    rows = [
        (r.article_id, r.title or "", _date(r.published), r.link or "", int(r.passage_count or 0), _ms(r.ingested_at))
        for r in session.execute(statement, timeout=max(settings.request_timeout_s, 60.0))
    ]
    frame = pd.DataFrame(rows, columns=["article_id", "title", "date", "link", "passages", "ingested_ms"])
    return frame.sort_values("article_id", kind="stable").reset_index(drop=True)


def article_vectors(
    session: Any, settings: Settings, article_ids: Iterable[str] | None = None
) -> dict[str, np.ndarray]:
    """Article id -> mean of its passage vectors; all articles (one paged scan) or the given ones."""
    from cassandra.concurrent import execute_concurrent_with_args
    from cassandra.query import SimpleStatement

    table = f"{settings.keyspace}.{settings.passages_table}"
    grouped: dict[str, list[Any]] = {}
    if article_ids is None:
        statement = SimpleStatement(f"SELECT article_id, vector FROM {table}", fetch_size=2000)
        for r in session.execute(statement, timeout=max(settings.request_timeout_s, 60.0)):
            grouped.setdefault(r.article_id, []).append(r.vector)
    else:
        prepared = session.prepare(f"SELECT article_id, vector FROM {table} WHERE article_id = ?")
        ids = [(i,) for i in dict.fromkeys(article_ids)]
        for ok, rows in execute_concurrent_with_args(session, prepared, ids, concurrency=32, results_generator=True):
            if ok:
                for r in rows:
                    grouped.setdefault(r.article_id, []).append(r.vector)
    return {aid: projection.article_vector(np.asarray(vs, dtype=np.float32)) for aid, vs in grouped.items()}


def articles_with_term(session: Any, settings: Settings, word: str) -> set[str]:
    """Ids of the articles whose passages contain every normalised term of `word` (SAI `CONTAINS`)."""
    terms = sorted(terms_of(word))
    if not terms:
        return set()
    prepared = session.prepare(
        f"SELECT article_id FROM {settings.keyspace}.{settings.passages_table} WHERE terms CONTAINS ?"
    )
    found: set[str] | None = None
    for term in terms:
        ids = {r.article_id for r in session.execute(prepared, (term,), timeout=settings.request_timeout_s)}
        found = ids if found is None else found & ids
    return found or set()


# --- building ----------------------------------------------------------------------------------
def build_map(
    session: Any,
    settings: Settings,
    version: IndexVersion,
    previous: CorpusMap | None = None,
    params: projection.ProjectionParams | None = None,
) -> CorpusMap:
    """A map of the index as it is now: a full fit, or `previous` extended when little changed."""
    params = params or projection.ProjectionParams()
    started = time.perf_counter()
    rows = article_rows(session, settings)
    rows["month"] = [d.strftime("%Y-%m") if d else "undated" for d in rows["date"]]
    changed = _changed_ids(rows, previous)
    placed_total = (previous.placed if previous else 0) + len(changed)
    incremental = previous is not None and previous.layout is not None and len(previous.layout.anchors_2d) > 0
    if incremental and not projection.needs_refit(placed_total, max(len(rows), 1), params):
        assert previous is not None and previous.layout is not None
        vectors = article_vectors(session, settings, changed)
        rows = extend(rows, previous.frame, previous.layout, vectors)
        layout, method, placed = previous.layout, previous.method, placed_total
    else:
        vectors = article_vectors(session, settings)
        rows = rows[rows["article_id"].isin(vectors.keys())].reset_index(drop=True)
        matrix = np.stack([vectors[a] for a in rows["article_id"]]) if len(rows) else np.zeros((0, 1), np.float32)
        layout = projection.fit(matrix, params)
        rows["x"], rows["y"] = layout.coords[:, 0], layout.coords[:, 1]
        method, placed = layout.method, 0
    built_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    frame = rows[COLUMNS].copy()
    return CorpusMap(version.fingerprint, frame, method, built_at, time.perf_counter() - started, placed, layout)


def extend(
    rows: pd.DataFrame, previous: pd.DataFrame, layout: projection.Layout, vectors: dict[str, np.ndarray]
) -> pd.DataFrame:
    """`rows` (the articles now) with map coordinates: those of `previous` for unchanged articles, and
    for each article in `vectors` (new or re-ingested) a place on `layout` by its nearest neighbours.
    Articles with neither (no passages) are left out."""
    kept = previous.set_index("article_id")[["x", "y"]]
    coords = np.array(kept.reindex(rows["article_id"]).to_numpy(dtype=np.float32))  # a writable copy
    ids = list(rows["article_id"])
    todo = [i for i, aid in enumerate(ids) if aid in vectors]
    if todo:
        coords[todo] = projection.place(layout, np.stack([vectors[ids[i]] for i in todo]))
    out = rows.copy()
    out["x"], out["y"] = coords[:, 0], coords[:, 1]
    return out.dropna(subset=["x", "y"]).reset_index(drop=True)


def ensure_map(session: Any, settings: Settings, manifest: Manifest) -> tuple[CorpusMap, bool]:
    """The stored map of the current index version, building (and storing) it when missing.

    Returns (map, built_now). One build at a time per keyspace in this process.
    """
    version = index_version(session, settings, manifest)
    folder = map_dir(settings)
    found = load_map(folder, version.fingerprint)
    if found is not None:
        return found, False
    with _lock_for(str(folder)):
        found = load_map(folder, version.fingerprint)
        if found is not None:
            return found, False
        previous = _latest_map(folder, manifest)
        corpus_map = build_map(session, settings, version, previous)
        save_map(corpus_map, folder, manifest)
        _prune(folder, keep=corpus_map.fingerprint)
        log.info("built the corpus map %s: %d articles in %.1f s", corpus_map.fingerprint, corpus_map.articles,
                 corpus_map.build_seconds)  # fmt: skip
        return corpus_map, True


# --- storing -----------------------------------------------------------------------------------
def map_dir(settings: Settings) -> Path:
    return settings.state_dir / "maps" / settings.keyspace


def save_map(corpus_map: CorpusMap, folder: Path, manifest: Manifest) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / corpus_map.fingerprint
    tmp = f".tmp-{os.getpid()}-{threading.get_ident()}"
    frame = corpus_map.frame.copy()
    frame["date"] = pd.to_datetime(frame["date"])
    frame.to_parquet(f"{stem}{tmp}.parquet", index=False)
    os.replace(f"{stem}{tmp}.parquet", f"{stem}.parquet")
    meta = {
        "fingerprint": corpus_map.fingerprint,
        "method": corpus_map.method,
        "built_at": corpus_map.built_at,
        "build_seconds": corpus_map.build_seconds,
        "placed": corpus_map.placed,
        "manifest": asdict(manifest),
    }
    layout = corpus_map.layout
    arrays: dict[str, Any] = {"meta": np.array(json.dumps(meta))}
    if layout is not None:
        arrays |= {
            "pca_mean": layout.pca_mean,
            "pca_components": layout.pca_components,
            "anchors_pca": layout.anchors_pca,
            "anchors_2d": layout.anchors_2d,
        }
    with open(f"{stem}{tmp}.npz", "wb") as f:
        np.savez_compressed(f, **arrays)
    os.replace(f"{stem}{tmp}.npz", f"{stem}.npz")


def load_map(folder: Path, fingerprint: str) -> CorpusMap | None:
    """The stored map with this fingerprint, or None (missing, incomplete or unreadable)."""
    stem = folder / fingerprint
    if not Path(f"{stem}.npz").exists():
        return None
    try:
        with np.load(f"{stem}.npz", allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            layout = None
            if "anchors_2d" in data:
                anchors_2d = data["anchors_2d"]
                layout = projection.Layout(
                    np.zeros((0, 2), np.float32),
                    meta["method"],
                    data["pca_mean"],
                    data["pca_components"],
                    data["anchors_pca"],
                    anchors_2d,
                    (0.0, 0.0, 1.0),
                )
        frame = pd.read_parquet(f"{stem}.parquet")
    except (OSError, ValueError, KeyError) as exc:
        log.warning("ignoring the unreadable corpus map %s: %s", stem, exc)
        return None
    frame["date"] = [None if pd.isna(d) else d.date() for d in frame["date"]]
    return CorpusMap(
        meta["fingerprint"], frame, meta["method"], meta["built_at"], meta["build_seconds"], meta["placed"], layout
    )


# --- internals ---------------------------------------------------------------------------------
def _changed_ids(rows: pd.DataFrame, previous: CorpusMap | None) -> list[str]:
    """Articles that are new or were re-ingested since `previous` (all of them without one)."""
    if previous is None:
        return list(rows["article_id"])
    before = dict(zip(previous.frame["article_id"], previous.frame["ingested_ms"], strict=True))
    return [a for a, ms in zip(rows["article_id"], rows["ingested_ms"], strict=True) if before.get(a) != ms]


def _latest_map(folder: Path, manifest: Manifest) -> CorpusMap | None:
    """The newest complete map in `folder` built with the same model setup, to extend incrementally."""
    if not folder.exists():
        return None
    for npz in sorted(folder.glob("*.npz"), key=lambda p: p.stat().st_mtime, reverse=True):
        if npz.name.count(".") != 1:
            continue  # a temporary file
        try:
            with np.load(npz, allow_pickle=False) as data:
                same_model = json.loads(str(data["meta"])).get("manifest") == asdict(manifest)
        except (OSError, ValueError, KeyError):
            continue
        if same_model:
            return load_map(folder, npz.stem)
    return None


def _prune(folder: Path, keep: str) -> None:
    """Remove older maps of this keyspace (the incremental build already used the latest one)."""
    for path in folder.iterdir():
        if not path.name.startswith(keep) and path.suffix in (".npz", ".parquet") and ".tmp-" not in path.name:
            path.unlink(missing_ok=True)


def _lock_for(key: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _BUILD_LOCKS.setdefault(key, threading.Lock())


def _ms(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return int(value.timestamp() * 1000)
    return int(value)


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return value.date()  # type: ignore[no-any-return]
