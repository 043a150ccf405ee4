"""The corpus map's projection math (no database, no model): random vectors with planted clusters."""

from __future__ import annotations

import numpy as np
import pytest

from newsindex import projection
from newsindex.projection import ProjectionParams

FAST = ProjectionParams(pca_dims=8, perplexity=5, iterations=250, sample_cap=500)


def clusters(n_per: int, k: int = 3, dim: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, dim)) * 4
    labels = np.repeat(np.arange(k), n_per)
    x = centres[labels] + rng.standard_normal((len(labels), dim)) * 0.3
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


def separation(coords: np.ndarray, labels: np.ndarray) -> float:
    """Smallest distance between cluster centres over the largest within-cluster spread."""
    centres = np.stack([coords[labels == c].mean(axis=0) for c in np.unique(labels)])
    spread = max(float(np.linalg.norm(coords[labels == c] - centres[c], axis=1).mean()) for c in np.unique(labels))
    gaps = [np.linalg.norm(a - b) for i, a in enumerate(centres) for b in centres[i + 1 :]]
    return float(min(gaps)) / spread


def test_article_vector_is_the_renormalised_mean_of_its_passages() -> None:
    v = projection.article_vector(np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32))
    assert np.allclose(v, [2**-0.5, 2**-0.5], atol=1e-6)


def test_clusters_of_vectors_stay_apart_on_the_map() -> None:
    x, labels = clusters(15)
    layout = projection.fit(x, FAST)
    assert layout.method == "tsne"
    assert layout.coords.shape == (45, 2)
    assert separation(layout.coords, labels) > 2
    assert np.abs(layout.coords).max() == pytest.approx(1.0, abs=1e-5)  # scaled to [-1, 1]


def test_the_same_vectors_give_the_same_map() -> None:
    x, _ = clusters(8)
    assert np.array_equal(projection.fit(x, FAST).coords, projection.fit(x, FAST).coords)


def test_beyond_the_sample_cap_the_rest_is_placed_next_to_its_neighbours() -> None:
    x, labels = clusters(20)
    layout = projection.fit(x, ProjectionParams(pca_dims=8, perplexity=5, iterations=250, sample_cap=30))
    assert layout.method == "tsne-sample+knn"
    assert len(layout.anchors_2d) == 30
    assert np.isfinite(layout.coords).all()
    assert separation(layout.coords, labels) > 2


def test_a_new_article_is_placed_among_its_cluster_without_a_refit() -> None:
    x, labels = clusters(15)
    layout = projection.fit(x[1:], FAST)
    placed = projection.place(layout, x[:1])[0]
    own = layout.coords[labels[1:] == labels[0]].mean(axis=0)
    others = [layout.coords[labels[1:] == c].mean(axis=0) for c in (1, 2)]
    assert np.linalg.norm(placed - own) < min(np.linalg.norm(placed - o) for o in others)


@pytest.mark.parametrize("n", [1, 3])
def test_a_handful_of_articles_is_laid_out_by_pca(n: int) -> None:
    x, _ = clusters(n, k=1)
    layout = projection.fit(x, FAST)
    assert layout.method == "pca" and layout.coords.shape == (n, 2) and np.isfinite(layout.coords).all()


def test_no_articles_give_an_empty_map() -> None:
    layout = projection.fit(np.zeros((0, 8), dtype=np.float32), FAST)
    assert layout.coords.shape == (0, 2)


def test_a_refit_is_due_once_placed_articles_pass_the_share() -> None:
    params = ProjectionParams(refit_share=0.2)
    assert not projection.needs_refit(20, 100, params)
    assert projection.needs_refit(21, 100, params)
