"""Print a short hash of the locked dependency set (requirements.lock) and the Python version.

The shared virtualenv is keyed by this hash, so editing code or tool config never reinstalls torch,
while changing the lock gets a fresh environment. `make lock` regenerates the lock from pyproject.toml.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

LOCK = Path(__file__).resolve().parent.parent / "requirements.lock"


def main() -> None:
    spec = LOCK.read_bytes() + f"\npython{sys.version_info.major}.{sys.version_info.minor}".encode()
    print(hashlib.sha256(spec).hexdigest()[:16])


if __name__ == "__main__":
    main()
