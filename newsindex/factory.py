"""Build the heavy, long-lived objects once: session + encoder + store + search service."""

from __future__ import annotations

import logging

from newsindex.connect import connect
from newsindex.encoder import Embedder, load_encoder
from newsindex.profiles import canonical_model_name
from newsindex.schema import read_manifest, require_index
from newsindex.search import SearchService, Tuning
from newsindex.settings import Settings
from newsindex.store import IndexStore

log = logging.getLogger(__name__)


def build_service(settings: Settings, encoder: Embedder | None = None) -> SearchService:
    """A search service over the configured index; refuses an index built with another model.

    With NEWS_MODEL unset, an index built with another model is searched with that model (and the
    service says so), since the user asked for no model in particular; a set NEWS_MODEL must match.
    """
    session = connect(settings)
    notice = None
    try:
        stored = read_manifest(session, settings)
        if (
            stored is not None
            and encoder is None
            and not settings.model_explicit
            and stored.model != canonical_model_name(settings.model)
        ):
            notice = (
                f"NEWS_MODEL is unset: searching with {stored.model}, the model the index in keyspace "
                f"{settings.keyspace!r} was built with (the default is {settings.model})"
            )
            log.warning(notice)
            settings = settings.with_(
                model=stored.model, query_prefix=stored.query_prefix, passage_prefix=stored.passage_prefix
            )
        encoder = encoder or load_encoder(settings)
        manifest = require_index(session, settings, encoder.profile)
    except Exception:
        session.cluster.shutdown()
        raise
    tuning = Tuning(settings.search_candidates, settings.lexical_candidates, settings.lexical_max_postings)
    return SearchService(
        IndexStore(session, settings),
        encoder,
        tuning,
        manifest=manifest,
        notice=notice,
        query_threads=settings.query_threads,
    )
