"""What every page of the app shares: the cached search service, its error states, the CSS, and the
URL <-> session-state plumbing for page entry.

Each page keeps its state in the URL so it can be shared. When a page is entered (first run of a
browser session, or arriving from another page) its URL params are copied into session state once;
after that its widgets own the state and every rerun writes it back to the URL.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import streamlit as st

from newsindex.connect import close
from newsindex.errors import NewsSearchError, SchemaMismatch, StoreUnavailable
from newsindex.factory import build_service
from newsindex.schema import read_manifest
from newsindex.search import SearchService
from newsindex.settings import Settings

log = logging.getLogger("search_app")

PAGE_KEY = "_page"
CSS = """<style>
.ns-card .ns-title { font-size: 1.08rem; font-weight: 600; line-height: 1.35; }
.ns-card .ns-title a { text-decoration: none; }
.ns-card .ns-title a:hover { text-decoration: underline; }
.ns-card .ns-rank { color: #8a8f98; font-weight: 400; }
.ns-card .ns-meta { color: #6b7280; font-size: 0.85rem; margin: 0.1rem 0 0.45rem; }
.ns-card .ns-why-line { color: #6b7280; font-size: 0.8rem; margin-top: 0.35rem; }
.ns-card .ns-snippet { line-height: 1.55; }
.ns-card mark, .ns-passage mark { background: #fde68a; color: #111; padding: 0 0.12em; border-radius: 2px; }
.ns-passage { line-height: 1.7; border-left: 3px solid #e5e7eb; padding-left: 0.8rem; }
.ns-time { margin: 0.2rem 0 0.6rem; }
.ns-time small { color: #6b7280; }
.ns-like-heading { font-size: 1.3rem; font-weight: 600; margin-top: 0.4rem; }
.ns-col .ns-item { margin: 0 0 0.55rem; line-height: 1.35; }
.ns-col .ns-rank { color: #8a8f98; }
.ns-change { font-size: 0.78rem; padding: 0 0.3em; border-radius: 3px; margin-left: 0.25em; white-space: nowrap; }
.ns-up { background: #dcfce7; color: #166534; }
.ns-down { background: #fee2e2; color: #991b1b; }
.ns-new { background: #dbeafe; color: #1e40af; }
.ns-same { color: #9ca3af; }
.ns-selected { max-height: 300px; overflow-y: auto; padding-left: 1.6rem; line-height: 1.45; }
.ns-selected small { color: #6b7280; }
</style>"""


def _release(service: SearchService) -> None:
    close(service.store.session)


@st.cache_resource(show_spinner="Loading the model and connecting to Cassandra…", on_release=_release)
def get_service(settings: Settings) -> SearchService:
    """One service per process and settings; failures are not cached, so a retry tries again."""
    return build_service(settings)


def settings_or_stop() -> Settings:
    try:
        return Settings.from_env()
    except NewsSearchError as exc:
        log.warning("bad settings", exc_info=True)
        st.error(f"**The configuration is invalid.**\n\n{exc}")
        st.stop()
        raise AssertionError("unreachable") from exc  # st.stop() raises


def service_or_stop(settings: Settings) -> SearchService:
    """The search service, or an error that names the fix (and a Retry button), then stop the page."""
    try:
        return get_service(settings)
    except SchemaMismatch as exc:
        if "no index found" in str(exc):
            log.warning("no index in keyspace %s", settings.keyspace)
            st.info(f"**There is no news index here yet.**\n\n{exc}")
        else:
            log.warning("search refused: the index does not match the model", exc_info=True)
            st.error(f"**Search is disabled: this index does not match the configured model.**\n\n{exc}")
    except StoreUnavailable as exc:
        log.warning("Cassandra unavailable", exc_info=True)
        hint = "" if "db start" in str(exc) else "\n\nFor the local node, start it with `news-search db start`."
        st.error(f"**The news index is not reachable.**\n\n{exc}{hint}")
    except NewsSearchError as exc:
        log.warning("search service unavailable", exc_info=True)
        st.error(f"**Search is unavailable.**\n\n{exc}")
    except Exception:
        log.exception("building the search service failed")
        st.error("**Search is unavailable:** the search service could not start. The server log has the details.")
    st.session_state[PAGE_KEY] = None  # re-read the URL once it works
    st.button("Retry", key="retry_service")
    st.stop()
    raise AssertionError("unreachable")


def other_service(base: Settings, keyspace: str) -> SearchService:
    """A service over another keyspace's index, with the model that index was built with."""
    probe = get_service(base)
    stored = read_manifest(probe.store.session, base.with_(keyspace=keyspace))
    if stored is None:
        raise NewsSearchError(f"no index found in keyspace {keyspace!r}")
    return get_service(
        base.with_(
            keyspace=keyspace,
            model=stored.model,
            query_prefix=stored.query_prefix,
            passage_prefix=stored.passage_prefix,
        )
    )


def describe_index(service: SearchService) -> str:
    """'keyspace `news` · intfloat/e5-small-v2 (384-d, dot product)' (Markdown)."""
    keyspace = service.store.settings.keyspace
    manifest = service.manifest
    if manifest is None:
        return f"keyspace `{keyspace}`"
    similarity = manifest.similarity.replace("_", " ")
    return f"keyspace `{keyspace}` · model `{manifest.model}` ({manifest.dimension}-d, {similarity})"


# --- URL state ---------------------------------------------------------------------------------
def url_params() -> dict[str, list[str]]:
    return {key: st.query_params.get_all(key) for key in st.query_params}


def enter_page(name: str, load: Callable[[dict[str, list[str]]], Mapping[str, Any]]) -> bool:
    """On the first run of page `name` since another page (or none) ran, copy `load(url params)` into
    session state. Returns True on entry."""
    if st.session_state.get(PAGE_KEY) == name:
        return False
    for key, value in load(url_params()).items():
        st.session_state[key] = value
    st.session_state[PAGE_KEY] = name
    return True


def sync_url(wanted: Mapping[str, str], keys: Sequence[str]) -> None:
    """Make the address bar's `keys` equal `wanted` (a missing key is removed); touch only changes."""
    for key in keys:
        if key in wanted:
            if st.query_params.get_all(key) != [wanted[key]]:
                st.query_params[key] = wanted[key]
        elif key in st.query_params:
            del st.query_params[key]
