"""Domain errors, each carrying a message meant to be shown to the user as is.

The CLI turns them into one clean line and an exit code; the Streamlit page shows them with
`st.error`. None of them should ever surface as a traceback.
"""

from __future__ import annotations


class NewsSearchError(Exception):
    """Base class: the message says what went wrong and what to do about it."""

    exit_code = 2


class ConfigError(NewsSearchError):
    """A setting is missing, malformed or contradicts another one."""


class StoreUnavailable(NewsSearchError):
    """Cassandra (local node, cluster or Astra) cannot be reached or refused the session."""


class SchemaMismatch(NewsSearchError):
    """The index in the keyspace was built with another model, dimension or prefixes."""


class ModelUnavailable(NewsSearchError):
    """The configured sentence-transformers model cannot be loaded."""


class InputError(NewsSearchError):
    """The input file itself is unusable (missing, wrong header, not CSV)."""


class LockHeld(NewsSearchError):
    """Another ingestion run holds the lock."""
