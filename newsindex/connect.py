"""Open a Cassandra session for the configured backend: a local node/cluster, or Astra DB.

Local and self-managed clusters go through the driver directly (contact points, optional auth and
TLS); Astra goes through `cassio.init`, which knows how to fetch and use the secure-connect bundle.
Either way the caller gets a plain driver `Session` and never sees which path was taken.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import time
from collections.abc import Iterator
from typing import Any

from newsindex.errors import StoreUnavailable
from newsindex.settings import Settings

log = logging.getLogger(__name__)
CONNECT_ATTEMPTS = 3


class _KnownServerWarnings(logging.Filter):
    """Cassandra 5.0 warns that SAI vector indexes are 'experimental' on every index creation and ANN
    query, and that an aggregate reads more than one partition (the statistics recount does, on
    purpose); we know (the README says so) and it would drown every CLI run's output."""

    KNOWN = ("SAI ANN indexes on vector columns are experimental", "Aggregation query used without partition key")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(known in message for known in self.KNOWN)


logging.getLogger("cassandra.protocol").addFilter(_KnownServerWarnings())


@contextlib.contextmanager
def _driver_quiet_unless_debug() -> Iterator[None]:
    """While connecting, the driver logs each refused contact point with a traceback; the
    `StoreUnavailable` raised after it says the same in one line, so those logs show only at -vv."""
    driver = logging.getLogger("cassandra.cluster")
    if log.isEnabledFor(logging.DEBUG):
        yield
        return
    previous = driver.level
    driver.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        driver.setLevel(previous)


def connect(settings: Settings) -> Any:
    """Return a connected `cassandra.cluster.Session`, or raise `StoreUnavailable` with the fix."""
    if settings.is_astra:
        return _connect_astra(settings)
    return _connect_cluster(settings)


def _cluster_kwargs(settings: Settings) -> dict[str, Any]:
    """Fresh driver options (policies hold per-cluster state, so each attempt gets its own)."""
    from cassandra.auth import PlainTextAuthProvider
    from cassandra.policies import ExponentialReconnectionPolicy

    from newsindex.failover import execution_profiles

    kwargs: dict[str, Any] = {
        "contact_points": list(settings.cassandra_hosts),
        "port": settings.cassandra_port,
        "execution_profiles": execution_profiles(settings),
        "connect_timeout": settings.connect_timeout_s,
        "protocol_version": 5,
        # A node that comes back is found within seconds (the default backoff grows to 10 minutes, so
        # an ingest once waited 230 s for a node that had been up for minutes).
        "reconnection_policy": ExponentialReconnectionPolicy(base_delay=0.5, max_delay=4.0),
    }
    if settings.cassandra_username:
        kwargs["auth_provider"] = PlainTextAuthProvider(settings.cassandra_username, settings.cassandra_password)
    if settings.cassandra_tls:
        kwargs["ssl_context"] = ssl.create_default_context(cafile=settings.cassandra_tls_ca_file or None)
    return kwargs


def _connect_cluster(settings: Settings) -> Any:
    from cassandra.cluster import Cluster, NoHostAvailable

    where = f"{','.join(settings.cassandra_hosts)}:{settings.cassandra_port}"
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        cluster = Cluster(**_cluster_kwargs(settings))
        try:
            with _driver_quiet_unless_debug():
                session = cluster.connect()
        except NoHostAvailable as exc:
            cluster.shutdown()
            # A node that answers, but too slowly (just started, busy machine), gets another try;
            # a refused connection is final at once.
            if attempt < CONNECT_ATTEMPTS and "OperationTimedOut" in repr(exc):
                log.warning("Cassandra at %s is slow to answer (attempt %d); trying again", where, attempt)
                time.sleep(2.0)
                continue
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
    raise AssertionError("unreachable")


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
