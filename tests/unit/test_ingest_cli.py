"""`news-search ingest` / `python -m ingest` exit codes, each path ending in one line on stderr, never a traceback.

None of these reach a database or load a model: they fail (or are made to fail) before that.
The end-to-end exit 0/1 paths are in tests/integration/test_bad_inputs.py.
"""

from __future__ import annotations

import fcntl
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ingest import cli
from ingest.cli import EXIT_MEANINGS, ingest
from tests.bad_inputs import BAD
from tests.conftest import REPO

GOOD = BAD / "bom.csv"  # a readable file with good rows


def invoke(*args: str) -> Result:
    return CliRunner().invoke(ingest, list(args))


def assert_one_error_line(result: Result, code: int, *fragments: str) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("Error: ") and lines[0].endswith(f"(exit {code}: {EXIT_MEANINGS[code]})")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert result.stdout == ""
    return lines[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        (BAD / "wrong_header.csv", "wrong header: expected columns Title,Date,Link,Content"),
        (BAD / "missing_header.csv", "the header line is missing"),
        (BAD / "empty_file.csv", "the file is empty"),
        (BAD / "utf16.csv", "save it as UTF-8"),
        (BAD, "is a directory; give the path of a CSV file"),
        (BAD / "no-such-file.csv", "No such file or directory"),
    ],
    ids=["wrong_header", "missing_header", "empty_file", "utf16", "directory", "missing_path"],
)
def test_unusable_input_exits_2_before_connecting(path: Path, fragment: str) -> None:
    assert_one_error_line(invoke(str(path)), 2, fragment)


def test_a_bad_setting_exits_2_naming_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWS_ENCODE_BATCH_SIZE", "lots")
    assert_one_error_line(invoke(str(GOOD)), 2, "NEWS_ENCODE_BATCH_SIZE='lots'")


def test_an_unwritable_state_dir_exits_2_naming_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("NEWS_STATE_DIR", str(blocker / "state"))
    assert_one_error_line(invoke(str(GOOD)), 2, "set NEWS_STATE_DIR to a writable directory")


def test_an_unreachable_database_exits_2_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWS_CASSANDRA_PORT", str(free_port()))  # nothing listens there
    monkeypatch.setenv("NEWS_CONNECT_TIMEOUT_S", "3")
    assert_one_error_line(invoke(str(GOOD)), 2, "cannot reach Cassandra at 127.0.0.1:", "news-search db start")


def test_another_run_holding_the_lock_exits_3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("NEWS_STATE_DIR", str(state))
    monkeypatch.setenv("NEWS_KEYSPACE", "t_locked")
    with (state / "ingest-t_locked.lock").open("a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        assert_one_error_line(invoke(str(GOOD)), 3, "another ingestion into keyspace 't_locked' is running")


def test_bad_options_exit_2() -> None:
    result = invoke(str(GOOD), "--shard", "3/3")
    assert result.exit_code == 2 and "need 0 <= i < N" in result.output and "Traceback" not in result.output
    assert invoke(str(GOOD), "--limit", "0").exit_code == 2
    assert invoke().exit_code == 2


def test_an_internal_error_exits_70_with_the_traceback_saved(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a bug\nover two lines")

    monkeypatch.setattr(cli, "run_ingest", broken)
    line = assert_one_error_line(
        invoke(str(GOOD)), 70, "internal error (a bug, not your input): RuntimeError: a bug over"
    )
    report = Path(re.search(r"traceback saved in (\S+\.txt);?", line).group(1).rstrip(";"))  # type: ignore[union-attr]
    assert report.parent == tmp_path / "state" / "crash"
    assert "Traceback (most recent call last)" in report.read_text() and "RuntimeError: a bug" in report.read_text()


def test_a_database_error_mid_run_exits_2_not_70(monkeypatch: pytest.MonkeyPatch) -> None:
    from cassandra import OperationTimedOut

    def timed_out(*_args: object, **_kwargs: object) -> None:
        raise OperationTimedOut("errors={'127.0.0.1:9042': 'Client request timeout'}")

    monkeypatch.setattr(cli, "run_ingest", timed_out)
    assert_one_error_line(
        invoke(str(GOOD)), 2, "the database stopped answering (OperationTimedOut", "the rerun resumes"
    )


def test_ctrl_c_exits_130_saying_a_rerun_resumes(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "run_ingest", interrupted)
    assert_one_error_line(invoke(str(GOOD)), 130, "interrupted; run the same command again")


def test_python_m_ingest_prints_one_line_and_no_traceback_for_a_bad_setting(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "NEWS_STATE_DIR": str(tmp_path),
        "NEWS_WRITE_CONCURRENCY": "0",
        "HF_HUB_OFFLINE": "1",
    }
    done = subprocess.run(
        [sys.executable, "-m", "ingest", str(GOOD)], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert done.stderr.strip().splitlines()[-1].startswith("Error: NEWS_WRITE_CONCURRENCY must be at least 1")


def test_every_exit_code_is_documented_in_help_readme_and_deploy_docs() -> None:
    help_text = CliRunner().invoke(ingest, ["--help"]).output
    readme = (REPO / "README.md").read_text()
    cron = (REPO / "docs" / "deploy" / "news-search-ingest.cron").read_text()
    service = (REPO / "docs" / "deploy" / "news-search-ingest.service").read_text()
    for code in EXIT_MEANINGS:
        assert re.search(rf"^\s+{code}\s", help_text, re.MULTILINE), code
        assert f"`{code}`" in readme, code
        assert re.search(rf"\b{code}\b", cron), code
    assert "SuccessExitStatus=1" in service and "70" in service
