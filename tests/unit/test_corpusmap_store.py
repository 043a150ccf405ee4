"""The corpus map's storage and versioning, without a database: fingerprints, files, change detection."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from newsindex import corpusmap, projection
from newsindex.corpusmap import CorpusMap, IndexVersion
from newsindex.schema import Manifest

E5 = Manifest("intfloat/e5-small-v2", 384, "dot_product", "query: ", "passage: ")
MINI = Manifest("all-MiniLM-L6-v2", 384, "dot_product", "", "")


def frame(ids: list[str], ingested: list[int]) -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame(
        {
            "article_id": ids,
            "title": [f"<b>title {i}</b>" for i in ids],
            "date": [dt.date(2023, 1, 1 + i) for i in range(n)],
            "month": ["2023-01"] * n,
            "link": [f"https://example.org/{i}" for i in ids],
            "passages": [2] * n,
            "ingested_ms": ingested,
            "x": np.linspace(-1, 1, n),
            "y": np.linspace(1, -1, n),
        }
    )


def a_map(fingerprint: str, ids: list[str], ingested: list[int]) -> CorpusMap:
    x = np.random.default_rng(0).standard_normal((len(ids), 16)).astype(np.float32)
    layout = projection.fit(x, projection.ProjectionParams(pca_dims=4))
    return CorpusMap(fingerprint, frame(ids, ingested), layout.method, "2024-01-01T00:00:00+00:00", 1.5, 0, layout)


def test_the_fingerprint_changes_with_count_latest_ingest_and_model() -> None:
    base = IndexVersion(1220, 1_700_000_000_000, E5).fingerprint
    assert base == IndexVersion(1220, 1_700_000_000_000, E5).fingerprint
    assert base != IndexVersion(1221, 1_700_000_000_000, E5).fingerprint
    assert base != IndexVersion(1220, 1_700_000_000_001, E5).fingerprint
    assert base != IndexVersion(1220, 1_700_000_000_000, MINI).fingerprint


def test_a_saved_map_loads_back_the_same(tmp_path: Path) -> None:
    saved = a_map("abc", ["a", "b", "c"], [1, 2, 3])
    corpusmap.save_map(saved, tmp_path, E5)
    loaded = corpusmap.load_map(tmp_path, "abc")
    assert loaded is not None
    pd.testing.assert_frame_equal(loaded.frame, saved.frame, check_dtype=False)
    assert (loaded.method, loaded.build_seconds, loaded.built_at) == (saved.method, 1.5, saved.built_at)
    assert loaded.layout is not None and saved.layout is not None
    assert np.array_equal(loaded.layout.anchors_2d, saved.layout.anchors_2d)
    assert not list(tmp_path.glob("*.tmp-*"))


def test_an_incomplete_map_is_not_loaded(tmp_path: Path) -> None:
    corpusmap.save_map(a_map("abc", ["a"], [1]), tmp_path, E5)
    (tmp_path / "abc.npz").unlink()
    assert corpusmap.load_map(tmp_path, "abc") is None
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    assert corpusmap.load_map(tmp_path, "bad") is None


def test_changed_ids_are_new_or_reingested_articles() -> None:
    previous = a_map("old", ["a", "b", "c"], [1, 2, 3])
    now = frame(["a", "b", "d"], [1, 5, 4])
    assert corpusmap._changed_ids(now, previous) == ["b", "d"]
    assert corpusmap._changed_ids(now, None) == ["a", "b", "d"]


def test_the_latest_map_of_the_same_model_is_reused_and_older_ones_pruned(tmp_path: Path) -> None:
    corpusmap.save_map(a_map("one", ["a"], [1]), tmp_path, E5)
    corpusmap.save_map(a_map("two", ["a", "b"], [1, 2]), tmp_path, MINI)
    latest = corpusmap._latest_map(tmp_path, E5)
    assert latest is not None and latest.fingerprint == "one"
    corpusmap._prune(tmp_path, keep="two")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["two.npz", "two.parquet"]


def test_a_small_ingest_keeps_the_old_points_and_places_the_new_ones() -> None:
    previous = a_map("old", ["a", "b", "c"], [1, 2, 3])
    assert previous.layout is not None
    now = frame(["a", "b", "c", "d", "e"], [1, 2, 9, 4, 5])  # c re-ingested, d new, e without passages
    near_a = previous.layout.anchors_pca[0] @ previous.layout.pca_components + previous.layout.pca_mean
    vectors = {"c": near_a, "d": near_a}
    out = corpusmap.extend(now, previous.frame, previous.layout, vectors)
    assert list(out["article_id"]) == ["a", "b", "c", "d"]  # e: no passages, no place on the map
    old = previous.frame.set_index("article_id")
    assert (out.loc[0, "x"], out.loc[1, "y"]) == (old.loc["a", "x"], old.loc["b", "y"])
    assert np.allclose(out.loc[2, ["x", "y"]].to_numpy(float), out.loc[3, ["x", "y"]].to_numpy(float))
    assert np.linalg.norm(out.loc[3, ["x", "y"]].to_numpy(float) - old.loc["a", ["x", "y"]].to_numpy(float)) < 0.5
