"""Garbage-collector settings of the long-running server process.

CPython's collector runs a young-generation pass every 700 container allocations and, every
hundred of those, a full pass over every tracked object. After start-up the server holds a
few hundred thousand long-lived objects (models, routes, the SQLAlchemy mappers, caches), so
each full pass walks them all; a remote-write request of 2,000 series allocates enough
short-lived protobuf wrappers and tuples to trigger several. Measured on one request of
2,000 series × 1 sample: decoding took 22.6 ms with the defaults, 4.7 ms with the start-up
objects frozen, 4.0 ms with the young threshold raised as well.

:func:`settle` freezes what exists once the server is ready (``gc.freeze``: those objects
are left out of every later pass; they live as long as the process anyway) and lets the
young generation grow to :data:`YOUNG_THRESHOLD` allocations before a pass. Garbage cycles
are still collected, a little later.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000


def settle() -> None:
    """Collect once, freeze what survives, and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, older, oldest)
