"""The Drain template miner of one scope (a stream), kept in the store between passes.

Lines are masked first with the errors domain's message normaliser (numbers, hex ids,
UUIDs, e-mail and IP addresses, quoted values become placeholders), then given to
``drain3``'s Drain tree (depth 4, similarity 0.4), whose clusters are the templates.
"""

from __future__ import annotations

import zlib
from typing import Any

import jsonpickle
from drain3.drain import Drain

from watchkeeper.errors.grouping import normalise_message

MAX_CLUSTERS = 5000
"""Templates kept per scope; past it Drain forgets the least recently seen."""
MAX_MESSAGE = 2000


def new_miner() -> Drain:
    return Drain(depth=4, sim_th=0.4, max_children=100, max_clusters=MAX_CLUSTERS)


def load_miner(state: bytes) -> Drain:
    """Return the miner saved by :func:`save_miner` (a fresh one for empty state)."""
    if not state:
        return new_miner()
    loaded: Any = jsonpickle.loads(zlib.decompress(state).decode(), keys=True)
    if not isinstance(loaded, Drain):
        return new_miner()
    return loaded


def save_miner(miner: Drain) -> bytes:
    return zlib.compress(jsonpickle.dumps(miner, keys=True).encode(), 6)


def mine(miner: Drain, message: str) -> tuple[int, str]:
    """Add ``message`` to ``miner``; return its template's cluster id and template text."""
    first = message.split("\n", 1)[0][:MAX_MESSAGE]  # a joined trace: its first line
    masked = normalise_message(first) or "<empty>"
    cluster, _ = miner.add_log_message(masked)
    return int(cluster.cluster_id), str(cluster.get_template())
