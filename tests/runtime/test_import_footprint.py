"""Libraries for features a server may not use are loaded when first used, not at start-up:
each costs megabytes of resident memory in every server (checked in a child process)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from watchkeeper.store.engine import make_engine
from watchkeeper.store.migrate import upgrade

CHILD = """
import json, sys
import watchkeeper.cli, watchkeeper.runtime.app, watchkeeper.runtime.server
from watchkeeper.store.engine import make_engine
from watchkeeper.store.migrate import upgrade
upgrade(make_engine(sys.argv[1]))  # at head already: nothing to migrate
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in set(sys.argv[2:]))))
"""

LAZY = ("alembic", "webauthn", "OpenSSL", "redis")


def test_a_server_at_head_loads_no_alembic_webauthn_or_redis(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(make_engine(url))
    done = subprocess.run(
        [sys.executable, "-c", CHILD, url, *LAZY],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert json.loads(done.stdout) == []
