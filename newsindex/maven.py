"""Fetch artifacts from Maven Central with the ordinary Maven client (the local node's jars, the model).

Why Maven and not plain HTTP: it is the one client the project already needs, it checks the
repository's checksums, and it honours a user's proxy and mirror settings. Every repository is
mirrored to Central so third-party poms cannot send it elsewhere.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

CENTRAL = "https://repo.maven.apache.org/maven2"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

# The id must stay "central": Maven records the repo id of each cached jar in ~/.m2 and downloads
# everything again for any other id.
MAVEN_SETTINGS = """<settings xmlns="http://maven.apache.org/SETTINGS/1.0.0">
  <mirrors>
    <mirror>
      <id>central</id>
      <mirrorOf>*</mirrorOf>
      <url>{central}</url>
    </mirror>
  </mirrors>
</settings>
"""


class MavenError(Exception):
    """Maven is missing or could not fetch an artifact; the message names the fix."""


def find_mvn() -> str:
    mvn = shutil.which("mvn")
    if not mvn:
        raise MavenError(
            "Maven (`mvn`) is needed to download from Maven Central and is not on PATH; "
            "install it (Debian: `apt-get install maven`)"
        )
    return mvn


def write_settings(path: Path) -> Path:
    path.write_text(MAVEN_SETTINGS.format(central=CENTRAL), encoding="utf-8")
    return path


def copy_command(mvn: str, settings_xml: Path, artifact: str, out_dir: Path) -> list[str]:
    """`dependency:copy` of one artifact (group:artifact:version[:packaging]) into `out_dir`, no pom needed."""
    return [
        mvn,
        "-B",
        "-q",
        "-Dstyle.color=never",
        "-s",
        str(settings_xml),
        f"{DEPENDENCY_PLUGIN}:copy",
        f"-Dartifact={artifact}",
        f"-DoutputDirectory={out_dir}",
        "-Dmdep.overWriteReleases=true",
        "-Dtransitive=false",
    ]


def copy_artifact(artifact: str, out_dir: Path, work_dir: Path, env: Mapping[str, str] | None = None) -> Path:
    """Download one jar into `out_dir` and return its path; Maven's log goes to `work_dir/maven.log`."""
    mvn = find_mvn()
    work_dir.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings_xml = write_settings(work_dir / "maven-settings.xml")
    log = work_dir / "maven.log"
    with open(log, "w") as out:
        done = subprocess.run(
            copy_command(mvn, settings_xml, artifact, out_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env if env is not None else os.environ),
            cwd=work_dir,
        )
    _group, name, version = artifact.split(":")[:3]
    jar = out_dir / f"{name}-{version}.jar"
    if done.returncode != 0 or not jar.is_file():
        raise MavenError(
            f"Maven could not download {artifact} (exit {done.returncode}); check that Maven Central "
            f"({CENTRAL}) is reachable from this machine. Full log: {log}"
        )
    return jar


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
