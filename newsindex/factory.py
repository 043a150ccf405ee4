"""Build the heavy, long-lived objects once: session + encoder + store + search service."""

from __future__ import annotations

from newsindex.connect import connect
from newsindex.encoder import Embedder, load_encoder
from newsindex.schema import require_index
from newsindex.search import SearchService
from newsindex.settings import Settings
from newsindex.store import IndexStore


def build_service(settings: Settings, encoder: Embedder | None = None) -> SearchService:
    """A search service over the configured index; refuses an index built with another model."""
    session = connect(settings)
    try:
        encoder = encoder or load_encoder(settings)
        require_index(session, settings, encoder.profile)
    except Exception:
        session.cluster.shutdown()
        raise
    return SearchService(IndexStore(session, settings), encoder, settings.search_candidates)
