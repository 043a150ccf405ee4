"""Open a Cassandra session for the configured backend: a local node/cluster, or Astra DB.

Local and self-managed clusters go through the driver directly (contact points, optional auth and
TLS); Astra goes through `cassio.init`, which knows how to fetch and use the secure-connect bundle.
Either way the caller gets a plain driver `Session` and never sees which path was taken.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

from newsindex.errors import StoreUnavailable
from newsindex.settings import Settings

log = logging.getLogger(__name__)


class _KnownServerWarnings(logging.Filter):
    """Cassandra 5.0 warns that SAI vector indexes are 'experimental' on every index creation and ANN
    query; we know (the README says so) and it would drown every CLI run's output."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "SAI ANN indexes on vector columns are experimental" not in record.getMessage()


logging.getLogger("cassandra.protocol").addFilter(_KnownServerWarnings())


def connect(settings: Settings) -> Any:
    """Return a connected `cassandra.cluster.Session`, or raise `StoreUnavailable` with the fix."""
    if settings.is_astra:
        return _connect_astra(settings)
    return _connect_cluster(settings)


def _connect_cluster(settings: Settings) -> Any:
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.cluster import Cluster, NoHostAvailable

    from newsindex.failover import execution_profiles

    kwargs: dict[str, Any] = {
        "contact_points": list(settings.cassandra_hosts),
        "port": settings.cassandra_port,
        "execution_profiles": execution_profiles(settings),
        "connect_timeout": settings.connect_timeout_s,
        "protocol_version": 5,
    }
    if settings.cassandra_username:
        kwargs["auth_provider"] = PlainTextAuthProvider(settings.cassandra_username, settings.cassandra_password)
    if settings.cassandra_tls:
        context = ssl.create_default_context(cafile=settings.cassandra_tls_ca_file or None)
        kwargs["ssl_context"] = context
    cluster = Cluster(**kwargs)
    where = f"{','.join(settings.cassandra_hosts)}:{settings.cassandra_port}"
    try:
        session = cluster.connect()
    except NoHostAvailable as exc:
        cluster.shutdown()
        raise StoreUnavailable(
            f"cannot reach Cassandra at {where} ({_first_error(exc)}). Is the local node up "
            "(`news-search db status`, `news-search db start`)? Otherwise check NEWS_CASSANDRA_HOSTS and "
            "NEWS_CASSANDRA_PORT in .env."
        ) from None
    except Exception as exc:  # auth, TLS and protocol errors come as various types
        cluster.shutdown()
        raise StoreUnavailable(f"cannot open a session on Cassandra at {where}: {exc}") from None
    log.info("connected to Cassandra at %s", where)
    return session


def _connect_astra(settings: Settings) -> Any:
    import cassio

    from newsindex.failover import apply_to_existing

    try:
        cassio.init(
            token=settings.astra_token,
            database_id=settings.astra_database_id or None,
            secure_connect_bundle=settings.astra_secure_bundle or None,
            keyspace=settings.keyspace,
        )
        session = cassio.config.resolve_session()
    except Exception as exc:
        raise StoreUnavailable(
            f"cannot connect to Astra DB ({type(exc).__name__}: {_redact(str(exc), settings)}). Check "
            "NEWS_ASTRA_TOKEN and NEWS_ASTRA_DATABASE_ID (or NEWS_ASTRA_SECURE_BUNDLE) in .env."
        ) from None
    if session is None:
        raise StoreUnavailable("cassio.init returned no session; check the NEWS_ASTRA_* settings")
    apply_to_existing(session.cluster, settings)
    return session


def close(session: Any) -> None:
    """Shut down the session's cluster (threads and sockets)."""
    cluster = getattr(session, "cluster", None)
    if cluster is not None:
        cluster.shutdown()


def _first_error(exc: Any) -> str:
    errors = getattr(exc, "errors", None) or {}
    for error in errors.values():
        return str(error)
    return str(exc)


def _redact(text: str, settings: Settings) -> str:
    for secret in (settings.astra_token, settings.cassandra_password):
        if secret:
            text = text.replace(secret, "***")
    return text
