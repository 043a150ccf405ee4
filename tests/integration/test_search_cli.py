"""`news-search search` on the real node over the test corpus: batch mode (one model load, JSON lines, empty
lines reported), sessions closed on every path, a missing index, and stdout holding results only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from click.testing import CliRunner, Result

from newsindex import factory
from search_app.cli import search
from tests.conftest import REPO
from tests.integration import sample_corpus
from tests.integration.conftest import base_env, new_keyspace

RESULT_KEYS = {"article_id", "title", "date", "link", "score", "snippet"}


@pytest.fixture
def cli_env(sample_index: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in base_env(NEWS_KEYSPACE=sample_index.keyspace, NEWS_STATE_DIR=str(sample_index.state_dir)).items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def spied(encoder: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Record every model load and every service the CLI builds (the real ones: the session's e5 is handed
    out instead of a second load, and build_service itself runs unchanged)."""
    seen: dict[str, list[Any]] = {"loads": [], "services": []}
    real_build = factory.build_service

    def load(settings: Any) -> Any:
        seen["loads"].append(settings.model)
        return encoder

    def build(settings: Any, encoder: Any = None) -> Any:
        service = real_build(settings, encoder)
        seen["services"].append(service)
        return service

    monkeypatch.setattr(factory, "load_encoder", load)
    monkeypatch.setattr(factory, "build_service", build)
    return seen


def invoke(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(search, list(args), input=stdin)


def test_batch_answers_each_line_with_one_json_line_and_loads_the_model_once(
    cli_env: None, spied: dict[str, list[Any]]
) -> None:
    cases = sample_corpus.queries()[:4]
    lines = [cases[0]["query"], cases[1]["query"], "", cases[2]["query"], "   ", cases[3]["query"]]
    result = invoke("--batch", "--k", "3", stdin="\n".join(lines) + "\n")
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["line"] for o in out] == [1, 2, 3, 4, 5, 6]
    assert [o["query"] for o in out] == [line.strip() for line in lines]
    for empty in (out[2], out[4]):
        assert empty == {"line": empty["line"], "query": "", "results": [], "skipped": "empty line"}
    answered = [out[0], out[1], out[3], out[5]]
    for record, case in zip(answered, cases, strict=True):
        assert 1 <= len(record["results"]) <= 3
        assert all(set(r) == RESULT_KEYS for r in record["results"])
        assert case["expected_link"] in [r["link"] for r in record["results"]], case["query"]
    assert len(spied["loads"]) == 1 and len(spied["services"]) == 1
    assert spied["services"][0].store.session.cluster.is_shutdown
    assert result.stderr.strip().splitlines()[-1] == "[batch: 4 queries answered, 0 failed]"


def test_batch_reports_a_failing_line_and_goes_on_with_exit_1(cli_env: None, spied: dict[str, list[Any]]) -> None:
    query = sample_corpus.queries()[0]
    result = invoke("--batch", "--k", "1", stdin=f"{'transfer ' * 300}\n{query['query']}\n")
    assert result.exit_code == 1, result.output
    first, second = (json.loads(line) for line in result.stdout.splitlines())
    assert first["results"] == [] and first["error"].startswith("the query is 2699 characters")
    assert second["results"][0]["link"] == query["expected_link"]
    assert "1 failed" in result.stderr


def test_session_is_closed_after_a_search_and_after_an_error(cli_env: None, spied: dict[str, list[Any]]) -> None:
    ok = invoke("goalkeeper loan", "--k", "2", "--json")
    assert ok.exit_code == 0, ok.output
    assert len(json.loads(ok.stdout)) == 2
    missing = invoke("--like", "0000000000000000")
    assert missing.exit_code == 2 and "article 0000000000000000 is not in the index" in missing.stderr
    assert missing.stdout == ""
    assert len(spied["services"]) == 2
    assert all(service.store.session.cluster.is_shutdown for service in spied["services"])


def test_a_keyspace_without_an_index_exits_2_naming_it(
    node_session: Any, monkeypatch: pytest.MonkeyPatch, spied: dict[str, list[Any]]
) -> None:
    keyspace = new_keyspace("t_noindex")  # never created
    for key, value in base_env(NEWS_KEYSPACE=keyspace).items():
        monkeypatch.setenv(key, value)
    result = invoke("striker")
    assert result.exit_code == 2 and result.stdout == ""
    assert f"no index found in keyspace '{keyspace}'" in result.stderr and "Traceback" not in result.stderr
    assert (
        node_session.execute(
            "SELECT keyspace_name FROM system_schema.keyspaces WHERE keyspace_name = %s", (keyspace,)
        ).one()
        is None
    )


def test_no_match_prints_nothing_on_stdout_and_says_so_on_stderr(cli_env: None, spied: dict[str, list[Any]]) -> None:
    result = invoke("striker", "--from", "1995-01-01", "--to", "1995-12-31")
    assert result.exit_code == 0 and result.stdout == ""
    assert "No articles matched" in result.stderr


def test_the_real_command_prints_only_results_on_stdout_and_no_model_noise(sample_index: Any) -> None:
    env = {**os.environ, **base_env(NEWS_KEYSPACE=sample_index.keyspace, NEWS_STATE_DIR=str(sample_index.state_dir))}
    env["HF_HUB_OFFLINE"] = "1"
    query = sample_corpus.queries()[0]
    done = subprocess.run(
        [sys.executable, "-m", "news_search", "search", query["query"], "--k", "3", "--json"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)  # stdout is exactly one JSON document
    assert query["expected_link"] in [r["link"] for r in results]
    for noise in ("Loading weights", "Traceback", "it/s", "%|", "Batches", "WARNING"):
        assert noise not in done.stderr, done.stderr
    assert done.stderr.strip().startswith("[3 results in")
