"""The jar cache: resolved once with Maven, published atomically, never half-filled."""

from __future__ import annotations

from pathlib import Path

import pytest

from localcassandra import jars
from localcassandra.errors import NodeError
from localcassandra.java import Java

GOOD_MVN = """#!/bin/sh
for arg in "$@"; do case "$arg" in -DoutputDirectory=*) out="${arg#-DoutputDirectory=}";; esac; done
echo "$@" >> "$(dirname "$0")/calls.log"
touch "$out/cassandra-all-5.0.9.jar" "$out/jamm-0.4.0.jar" "$out/guava-32.0.1-jre.jar"
"""
BAD_MVN = """#!/bin/sh
for arg in "$@"; do case "$arg" in -DoutputDirectory=*) out="${arg#-DoutputDirectory=}";; esac; done
touch "$out/half-written.jar"
echo "[ERROR] Failed to collect dependencies: Could not transfer artifact"
exit 1
"""


@pytest.fixture
def java(tmp_path: Path) -> Java:
    return Java(home=tmp_path, binary=tmp_path / "bin" / "java", version="17.0.15")


def install_mvn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> Path:
    mvn = tmp_path / "bin" / "mvn"
    mvn.parent.mkdir(parents=True, exist_ok=True)
    mvn.write_text(script)
    mvn.chmod(0o755)
    monkeypatch.setattr(jars.shutil, "which", lambda _name: str(mvn))
    return mvn


def test_first_resolve_publishes_a_complete_lib_and_the_second_skips_maven(
    tmp_path: Path, java: Java, monkeypatch: pytest.MonkeyPatch
) -> None:
    mvn = install_mvn(tmp_path, monkeypatch, GOOD_MVN)
    cache = tmp_path / "cache"
    first = jars.ensure_jars(cache, "5.0.9", java)
    assert first.downloaded and first.lib_dir == cache / "5.0.9" / "lib"
    assert jars.is_complete(first.lib_dir)
    assert first.jamm.name == "jamm-0.4.0.jar"
    assert "5.0.9" in (cache / "5.0.9" / "pom.xml").read_text()
    assert "<mirrorOf>*</mirrorOf>" in (cache / "5.0.9" / "maven-settings.xml").read_text()
    second = jars.ensure_jars(cache, "5.0.9", java)
    assert not second.downloaded
    assert len((mvn.parent / "calls.log").read_text().splitlines()) == 1
    assert not list((cache / "5.0.9").glob(".lib-*"))  # no temp dir left behind


def test_lib_without_marker_is_resolved_again(tmp_path: Path, java: Java, monkeypatch: pytest.MonkeyPatch) -> None:
    install_mvn(tmp_path, monkeypatch, GOOD_MVN)
    lib = tmp_path / "cache" / "5.0.9" / "lib"
    lib.mkdir(parents=True)
    (lib / "leftover.jar").touch()
    assert jars.ensure_jars(tmp_path / "cache", "5.0.9", java).downloaded
    assert not (lib / "leftover.jar").exists()
    assert jars.is_complete(lib)


def test_failed_maven_leaves_no_lib_and_shows_its_log(
    tmp_path: Path, java: Java, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_mvn(tmp_path, monkeypatch, BAD_MVN)
    cache = tmp_path / "cache"
    with pytest.raises(NodeError) as err:
        jars.ensure_jars(cache, "5.0.9", java)
    assert "cassandra-all:5.0.9" in str(err.value)
    assert "Could not transfer artifact" in err.value.render()
    assert not (cache / "5.0.9" / "lib").exists()
    assert not list((cache / "5.0.9").glob(".lib-*"))


def test_missing_maven_says_how_to_install_it(tmp_path: Path, java: Java, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jars.shutil, "which", lambda _name: None)
    with pytest.raises(NodeError, match="apt-get install maven"):
        jars.ensure_jars(tmp_path / "cache", "5.0.9", java)


def test_maven_command_copies_runtime_deps_with_our_settings() -> None:
    argv = jars.maven_command("mvn", Path("/c/pom.xml"), Path("/c/s.xml"), Path("/c/tmp"))
    assert argv[:2] == ["mvn", "-B"]
    assert argv[argv.index("-s") : argv.index("-s") + 2] == ["-s", "/c/s.xml"]
    assert f"{jars.DEPENDENCY_PLUGIN}:copy-dependencies" in argv
    assert "-DincludeScope=runtime" in argv and "-DoutputDirectory=/c/tmp" in argv
