"""Print the dependency spec of pyproject.toml (--list) or a short hash of it (default).

The shared virtualenv is keyed by this hash, so editing code or tool config never reinstalls torch,
while changing a dependency gets a fresh environment.
"""

from __future__ import annotations

import hashlib
import sys
import tomllib
from pathlib import Path

EXTRAS = ("dev", "bench")


def requirements(pyproject: Path) -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in EXTRAS:
        reqs += project.get("optional-dependencies", {}).get(extra, [])
    return reqs


def main() -> None:
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    reqs = requirements(pyproject)
    if "--list" in sys.argv:
        print("\n".join(reqs))
        return
    spec = "\n".join(sorted(reqs)) + f"\npython{sys.version_info.major}.{sys.version_info.minor}"
    print(hashlib.sha256(spec.encode()).hexdigest()[:16])


if __name__ == "__main__":
    main()
