"""Finding a Java 17: explicit NEWS_JAVA_HOME, then JAVA_HOME, then /usr/lib/jvm/*17*."""

from __future__ import annotations

from pathlib import Path

import pytest

from localcassandra.errors import NodeError
from localcassandra.java import find_java, parse_java_version


def fake_jdk(root: Path, name: str, version: str) -> Path:
    home = root / name
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2024-01-16' >&2\n")
    java.chmod(0o755)
    return home


@pytest.mark.parametrize(
    ("text", "major", "full"),
    [
        ('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime', 17, "17.0.15"),
        ('openjdk version "25.0.3" 2025-10-21', 25, "25.0.3"),
        ('java version "1.8.0_292"', 8, "1.8.0_292"),
        ('openjdk version "21" 2023-09-19', 21, "21"),
    ],
)
def test_java_version_is_parsed(text: str, major: int, full: str) -> None:
    assert parse_java_version(text) == (major, full)


def test_jvm_dir_17_is_found_and_newer_jdks_are_skipped(tmp_path: Path) -> None:
    jvm = tmp_path / "jvm"
    fake_jdk(jvm, "temurin-25-jdk", "25.0.3")
    home = fake_jdk(jvm, "java-17-openjdk", "17.0.15")
    java = find_java("", env={"JAVA_HOME": str(jvm / "temurin-25-jdk")}, jvm_root=jvm)
    assert java.home == home.resolve() and java.version == "17.0.15"


def test_java_home_env_is_tried_first(tmp_path: Path) -> None:
    jvm = tmp_path / "jvm"
    fake_jdk(jvm, "java-17-a", "17.0.1")
    mine = fake_jdk(tmp_path, "my-17", "17.0.9")
    assert find_java("", env={"JAVA_HOME": str(mine)}, jvm_root=jvm).home == mine.resolve()


def test_explicit_java_home_that_is_missing_names_the_setting_and_a_fix(tmp_path: Path) -> None:
    jvm = tmp_path / "jvm"
    good = fake_jdk(jvm, "java-17-openjdk", "17.0.15")
    with pytest.raises(NodeError) as err:
        find_java("/nonexistent", env={}, jvm_root=jvm)
    message = str(err.value)
    assert "/nonexistent (from NEWS_JAVA_HOME: no bin/java there)" in message
    assert "nothing else was searched" in message
    assert str(good.resolve()) in message  # points at the one that would work


def test_explicit_java_home_of_the_wrong_version_is_refused(tmp_path: Path) -> None:
    home = fake_jdk(tmp_path, "jdk-25", "25.0.3")
    with pytest.raises(NodeError, match=r"it is Java 25\.0\.3, not 17"):
        find_java(str(home), env={}, jvm_root=tmp_path / "none")


def test_no_java_at_all_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(NodeError) as err:
        find_java("", env={}, jvm_root=tmp_path / "none")
    assert "apt-get install openjdk-17-jre-headless" in str(err.value)
    assert "NEWS_JAVA_HOME" in str(err.value)
