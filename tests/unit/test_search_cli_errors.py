"""`news-search search` error paths that need no node and no model: each one line on stderr, nothing on stdout,
exit 2 (70 for a bug), never a traceback. The paths that search for real are in tests/integration/test_search_cli.py.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from search_app.cli import search
from tests.conftest import REPO


def invoke(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(search, list(args), input=stdin)


def assert_error(result: Result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def no_database(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point the CLI at a port nothing listens on: a test that gets past its check would say so."""
    monkeypatch.setenv("NEWS_CASSANDRA_PORT", str(closed_port()))
    monkeypatch.setenv("NEWS_CONNECT_TIMEOUT_S", "3")


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("NEWS_SEARCH_CANDIDATES", "5000", "NEWS_SEARCH_CANDIDATES must be between 1 and 1000"),
        ("NEWS_SEARCH_MODE", "fuzzy", "NEWS_SEARCH_MODE must be hybrid, semantic or keyword, not 'fuzzy'"),
        ("NEWS_CASSANDRA_PORT", "ninety", "NEWS_CASSANDRA_PORT='ninety'"),
        ("NEWS_DB_MODE", "astra", "NEWS_DB_MODE=astra needs NEWS_ASTRA_TOKEN"),
    ],
)
def test_a_bad_setting_exits_2_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, key: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(key, value)
    assert_error(invoke("striker"), 2, fragment)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["striker", "--from", "15/08/2023"], "is not a date like 2023-08-15"),
        (["striker", "--k", "0"], "0 is not in the range 1<=x<=100"),
        (["striker", "--diversity", "2"], "2.0 is not in the range 0<=x<=1"),
        (["striker", "--mode", "fuzzy"], "'fuzzy' is not one of"),
        (["striker", "--recency", "-3"], "-3.0 is not in the range x>=0"),
        ([], "give a QUERY (or --like ARTICLE_ID, or --batch"),
        (["striker", "--batch"], "--batch reads its queries from stdin"),
        (["--batch", "--like", "abc"], "--batch reads its queries from stdin"),
        (["striker", "--from", "2023-05-01", "--to", "2023-01-01"], "the start date is after the end date"),
        (["   "], "type something to search for"),
        (["word " * 500], "the query is 2500 characters"),
    ],
)
def test_bad_arguments_exit_2_before_any_connection(no_database: None, args: list[str], fragment: str) -> None:
    result = invoke(*args)
    assert_error(result, 2, fragment)
    assert "cannot reach Cassandra" not in result.stderr


def test_an_unreachable_database_exits_2_with_the_fix(no_database: None) -> None:
    assert_error(invoke("striker"), 2, "cannot reach Cassandra at 127.0.0.1:", "news-search db start")


def test_batch_with_an_unreachable_database_exits_2_and_prints_no_result_lines(no_database: None) -> None:
    assert_error(invoke("--batch", stdin="striker\nkeeper\n"), 2, "cannot reach Cassandra")


def test_an_internal_error_exits_70_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_settings: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("newsindex.factory.build_service", broken)
    assert_error(invoke("striker"), 70, "internal error (a bug): RuntimeError: a bug", "news-search -vv search")


def test_the_real_entry_point_prints_no_driver_traceback_when_the_database_is_down(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "NEWS_STATE_DIR": str(tmp_path),
        "NEWS_CASSANDRA_PORT": str(closed_port()),
        "NEWS_CONNECT_TIMEOUT_S": "3",
        "HF_HUB_OFFLINE": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "news_search", "search", "striker", "--json"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]  # one line
    assert done.stderr.startswith("Error: cannot reach Cassandra")


def test_help_documents_the_exit_codes_and_the_batch_format() -> None:
    text = invoke("--help").output
    for code in ("0", "1", "2", "70", "130"):
        assert f"\n    {code} " in text, code
    assert '{"line": N, "query": "", "results": [], "skipped": "empty line"}' in text
