"""The corpus map's math: article vectors -> 2D points. Pure (numpy + scikit-learn), no I/O.

An article is the mean of its passage vectors, renormalised (what "more like this" searches with).
The 2D layout is PCA to `pca_dims` (denoises and speeds the next step) then t-SNE (sklearn,
Barnes-Hut), seeded so the same vectors give the same map.

Scaling: t-SNE is O(n log n) per iteration but its constant is large (minutes at 10k on two cores).
Past `sample_cap` articles only a seeded sample is laid out by t-SNE; every other article is placed
at the distance-weighted mean of its `neighbours` nearest sampled articles (in the PCA space). The
same placement puts articles ingested after a build onto the existing map (`place`), so a small
ingest extends the map instead of re-running t-SNE; `needs_refit` says when too much has changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Layout", "ProjectionParams", "article_vector", "fit", "needs_refit", "place"]


@dataclass(frozen=True)
class ProjectionParams:
    pca_dims: int = 50
    perplexity: float = 30.0
    iterations: int = 500  # sklearn's default 1000 doubles the time for a barely different map
    sample_cap: int = 2500  # articles laid out by t-SNE; the rest are placed by their neighbours
    neighbours: int = 10
    seed: int = 7
    refit_share: float = 0.2  # re-run t-SNE once this share of the map was placed incrementally
    # OpenMP threads for PCA/t-SNE. One: on the shared 2-core machine two threads spin against the
    # other processes (docs/BENCHMARKS.md, corpus map: 1 thread 21-29 s vs 2 threads 76-83 s at 1,220).
    threads: int = 1


@dataclass
class Layout:
    """A fitted map: the points, plus what `place` needs to add points to it later."""

    coords: np.ndarray  # (n, 2) float32, in [-1, 1] on the wider axis
    method: str  # "pca" | "tsne" | "tsne-sample+knn"
    pca_mean: np.ndarray  # (dim,)
    pca_components: np.ndarray  # (pca_dims, dim)
    anchors_pca: np.ndarray  # (m, pca_dims): the t-SNE-laid-out points, in PCA space
    anchors_2d: np.ndarray  # (m, 2): their map coordinates
    scale: tuple[float, float, float]  # (centre_x, centre_y, half_width) applied to raw t-SNE output


def article_vector(passage_vectors: np.ndarray) -> np.ndarray:
    """Mean of an article's (unit) passage vectors, renormalised to unit length."""
    mean = np.asarray(passage_vectors, dtype=np.float32).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return (mean / norm if norm > 0 else mean).astype(np.float32)


def fit(vectors: np.ndarray, params: ProjectionParams | None = None) -> Layout:
    """Lay `vectors` (n, dim) out in 2D; deterministic for the same input and params."""
    from threadpoolctl import threadpool_limits

    params = params or ProjectionParams()
    with threadpool_limits(params.threads):
        return _fit(np.asarray(vectors, dtype=np.float32), params)


def _fit(x: np.ndarray, params: ProjectionParams) -> Layout:
    n, dim = x.shape if x.ndim == 2 else (0, 0)
    if n == 0:
        empty = np.zeros((0, 2), dtype=np.float32)
        return Layout(empty, "pca", np.zeros(dim, np.float32), np.zeros((0, dim), np.float32), empty, empty, (0, 0, 1))
    if n < 5:  # too few points for t-SNE's perplexity: the first two principal components
        mean = x.mean(axis=0)
        components = _pca(x, min(2, n - 1))[1] if n > 1 else np.zeros((0, dim), np.float32)
        reduced = (x - mean) @ components.T
        raw = np.zeros((n, 2), dtype=np.float32)
        raw[:, : reduced.shape[1]] = reduced
        return _finish(raw, "pca", mean, components, reduced, np.arange(n))
    mean, components = _pca(x, min(params.pca_dims, n, dim))
    reduced = (x - mean) @ components.T
    if n <= params.sample_cap:
        return _finish(_tsne(reduced, params), "tsne", mean, components, reduced, np.arange(n))
    rng = np.random.default_rng(params.seed)
    sample = np.sort(rng.choice(n, params.sample_cap, replace=False))
    raw = np.zeros((n, 2), dtype=np.float32)
    raw[sample] = _tsne(reduced[sample], params)
    rest = np.setdiff1d(np.arange(n), sample, assume_unique=True)
    raw[rest] = _knn_place(reduced[rest], reduced[sample], raw[sample], params.neighbours)
    return _finish(raw, "tsne-sample+knn", mean, components, reduced, sample)


def place(layout: Layout, vectors: np.ndarray, neighbours: int = 10) -> np.ndarray:
    """Map coordinates for new vectors on an existing layout (no re-fit): kNN over its anchors."""
    x = np.asarray(vectors, dtype=np.float32)
    if len(x) == 0:
        return np.zeros((0, 2), dtype=np.float32)
    reduced = (x - layout.pca_mean) @ layout.pca_components.T
    return _knn_place(reduced, layout.anchors_pca, layout.anchors_2d, neighbours)


def needs_refit(placed: int, total: int, params: ProjectionParams | None = None) -> bool:
    """True when incrementally placed points make up too much of the map to trust the old layout."""
    return total > 0 and placed / total > (params or ProjectionParams()).refit_share


# --- internals ---------------------------------------------------------------------------------
def _pca(x: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.decomposition import PCA

    pca = PCA(n_components=dims, svd_solver="full" if len(x) < 1000 else "randomized", random_state=0)
    pca.fit(x)
    return pca.mean_.astype(np.float32), pca.components_.astype(np.float32)


def _tsne(reduced: np.ndarray, params: ProjectionParams) -> np.ndarray:
    from sklearn.manifold import TSNE

    perplexity = min(params.perplexity, (len(reduced) - 1) / 3)
    tsne = TSNE(
        n_components=2,
        perplexity=perplexity,
        init="pca",
        learning_rate="auto",
        random_state=params.seed,
        method="barnes_hut",
        max_iter=params.iterations,
    )
    return np.asarray(tsne.fit_transform(reduced), dtype=np.float32)


def _knn_place(points: np.ndarray, anchors: np.ndarray, anchors_2d: np.ndarray, k: int) -> np.ndarray:
    """Distance-weighted mean of the k nearest anchors' 2D positions, in blocks (bounded memory)."""
    k = max(1, min(k, len(anchors)))
    out = np.empty((len(points), 2), dtype=np.float32)
    anchor_sq = np.einsum("ij,ij->i", anchors, anchors)
    for start in range(0, len(points), 2048):
        block = points[start : start + 2048]
        d2 = np.einsum("ij,ij->i", block, block)[:, None] - 2 * block @ anchors.T + anchor_sq[None, :]
        nearest = np.argpartition(d2, k - 1, axis=1)[:, :k]
        dist = np.sqrt(np.maximum(np.take_along_axis(d2, nearest, axis=1), 0.0))
        weights = 1.0 / (dist + 1e-6)
        weights /= weights.sum(axis=1, keepdims=True)
        out[start : start + len(block)] = np.einsum("ij,ijk->ik", weights, anchors_2d[nearest])
    return out


def _finish(
    raw: np.ndarray, method: str, mean: np.ndarray, components: np.ndarray, reduced: np.ndarray, anchors: np.ndarray
) -> Layout:
    """Scale to [-1, 1] on the wider axis (same scale kept for later `place` calls)."""
    low, high = raw.min(axis=0), raw.max(axis=0)
    centre = (low + high) / 2
    half = float(max((high - low).max() / 2, 1e-9))
    coords = ((raw - centre) / half).astype(np.float32)
    return Layout(
        coords,
        method,
        mean,
        components,
        reduced[anchors].astype(np.float32),
        coords[anchors],
        (float(centre[0]), float(centre[1]), half),
    )
