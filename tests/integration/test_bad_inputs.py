"""Each file of the bad-input corpus ingested for real (real node, e5-small-v2): the run finishes, each bad row
is in the quarantine file with its line and reason, the counts reconcile, the good rows are stored, repaired
text is stored repaired, and the CLI exits 1 with one summary line (0 when nothing was bad)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from ingest.clean import article_id
from ingest.cli import ingest, run_ingest
from newsindex.settings import Settings
from tests.bad_inputs import ROW_CASES, Case, huge_field_csv
from tests.integration.conftest import base_env, new_keyspace


@pytest.fixture(scope="module")
def bad_settings(node_session: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """One keyspace for the whole corpus (every file has links of its own), dropped afterwards."""
    keyspace = new_keyspace("t_bad")
    state = tmp_path_factory.mktemp("bad-inputs") / "state"
    yield Settings.from_env(env=base_env(NEWS_KEYSPACE=keyspace, NEWS_STATE_DIR=str(state)))
    node_session.execute(f"DROP KEYSPACE IF EXISTS {keyspace}", timeout=120)


def stored_text(session: Any, settings: Settings, link: str) -> str | None:
    """Title and passage texts of the stored article for `link`, or None when there is none."""
    ident = article_id(link)
    if (
        session.execute(f"SELECT article_id FROM {settings.keyspace}.articles WHERE article_id = %s", (ident,)).one()
        is None
    ):
        return None
    rows = session.execute(f"SELECT title, body FROM {settings.keyspace}.passages WHERE article_id = %s", (ident,))
    return "\n".join(f"{r.title}\n{r.body}" for r in rows)


def quarantine_of(summary: Any) -> list[tuple[int, str]]:
    if not summary.quarantine_file or not Path(summary.quarantine_file).exists():
        return []
    return [(e["line"], e["reason"]) for e in map(json.loads, Path(summary.quarantine_file).read_text().splitlines())]


@pytest.mark.parametrize("case", ROW_CASES, ids=lambda c: c.name)
def test_bad_input_file_is_ingested_with_reasons_and_counts_that_reconcile(
    case: Case, bad_settings: Settings, node_session: Any, encoder: Any, tmp_path: Path
) -> None:
    quarantine = tmp_path / "quarantine.jsonl"
    summary = run_ingest(case.path, bad_settings, encoder=encoder, quarantine=quarantine)
    assert summary.reconciles(), summary.as_dict()
    assert (summary.rows, summary.read) == (case.rows, len(case.ingested) + len(case.quarantined))
    assert (summary.new, summary.quarantined, summary.duplicates, summary.failed) == (
        len(case.ingested),
        len(case.quarantined),
        case.duplicates,
        0,
    )
    entries = quarantine_of(summary)
    assert [line for line, _ in entries] == [line for line, _ in case.quarantined]
    for (_, reason), (_, expected) in zip(entries, case.quarantined, strict=True):
        assert reason.startswith(expected), reason
    for slug, text in case.contains:
        stored = stored_text(node_session, bad_settings, case.link(slug))
        assert stored is not None and text in stored, (slug, text, stored)
    for slug, text in case.lacks:
        stored = stored_text(node_session, bad_settings, case.link(slug))
        assert stored is not None and text not in stored, (slug, text)


def test_rerunning_a_bad_file_changes_nothing_and_quarantines_the_same_rows(
    bad_settings: Settings, encoder: Any, tmp_path: Path
) -> None:
    case = next(c for c in ROW_CASES if c.name == "unclosed_quote")
    first = run_ingest(case.path, bad_settings, encoder=encoder, quarantine=tmp_path / "q1.jsonl")
    again = run_ingest(case.path, bad_settings, encoder=encoder, quarantine=tmp_path / "q2.jsonl")
    assert (again.new, again.updated, again.unchanged) == (0, 0, first.new + first.unchanged)
    assert quarantine_of(again) == quarantine_of(first)


def test_a_10mb_field_is_quarantined_and_the_rows_around_it_are_stored(
    bad_settings: Settings, node_session: Any, encoder: Any, tmp_path: Path
) -> None:
    path = huge_field_csv(tmp_path / "huge_field.csv")
    summary = run_ingest(path, bad_settings, encoder=encoder, quarantine=tmp_path / "q.jsonl")
    assert (summary.rows, summary.new, summary.quarantined) == (3, 2, 1) and summary.reconciles()
    ((line, reason),) = quarantine_of(summary)
    assert line == 3 and reason.startswith("too_large")
    for slug in ("good-1", "good-2"):
        assert stored_text(node_session, bad_settings, f"https://example.org/fictional/bad/huge_field/{slug}")


def test_cli_exits_1_on_a_bad_link_with_one_summary_line_and_no_traceback(
    bad_settings: Settings, encoder: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The issue's crash: one `not a link` row used to kill the run with a traceback and exit 1."""
    for key, value in base_env(NEWS_KEYSPACE=bad_settings.keyspace, NEWS_STATE_DIR=str(tmp_path)).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr("newsindex.encoder.load_encoder", lambda _settings: encoder)  # the same e5, loaded once
    source = next(c for c in ROW_CASES if c.name == "bad_link").path
    path = tmp_path / "bad_link_cli.csv"  # other links than the parametrized test's, so the rows are new here
    path.write_text(source.read_text().replace("/bad/bad_link/", "/bad/bad_link_cli/"))
    result = CliRunner().invoke(ingest, [str(path), "--json"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ingest: read 3 articles from 3 rows: 2 new") and "1 quarantined" in last
    assert "(exit 1: some rows quarantined or failed)" in last
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert (summary["new"], summary["quarantined"], summary["read"]) == (2, 1, 3)
    again = CliRunner().invoke(ingest, [str(path)])
    assert again.exit_code == 1  # the bad row is still bad: quarantined again, every run
    clean = tmp_path / "clean.csv"
    clean.write_text("".join(line for line in path.read_text().splitlines(keepends=True) if "not a link" not in line))
    assert CliRunner().invoke(ingest, [str(clean)]).exit_code == 0
