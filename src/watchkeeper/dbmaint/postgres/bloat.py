"""Bloat of tables and btree indexes: estimated from ``pg_stats``, measured with
``pgstattuple``.

The estimate is the method of the ioguix queries, done here in Python over the inputs
:func:`watchkeeper.dbmaint.postgres.queries.tables`/``indexes`` gather: a relation's
expected size is its tuple count times the average tuple size (header, null bitmap, column
widths from ``pg_stats``, each aligned to ``MAXALIGN``, plus its line pointer), packed into
pages at the relation's fill factor; what the relation has beyond that is bloat. It is an
estimate: it needs fresh statistics (``reltuples``, ``pg_stats``), and it does not apply
when a column has no statistics or is of type ``name`` (its ``avg_width`` is wrong).

A measurement reads the relation (``pgstattuple``/``pgstatindex``); it is exact but costs
I/O, so the collector measures only the estimate's candidates, a bounded number of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PAGE_HEADER = 24  # PageHeaderData
LINE_POINTER = 4  # ItemIdData
HEAP_TUPLE_HEADER = 23  # HeapTupleHeaderData without the null bitmap
INDEX_TUPLE_HEADER = 8  # IndexTupleData: heap TID + flags/size
BTREE_OPAQUE = 16  # BTPageOpaqueData at the end of each btree page
TOAST_CHUNKS_PER_PAGE = 4  # TOAST_MAX_CHUNK_SIZE is about a quarter of a page
HEAP_FILLFACTOR = 100
BTREE_FILLFACTOR = 90
EXACT_LIMIT = 1024**3
"""Tables larger than this are measured with pgstattuple_approx; indexes larger than this
keep their estimate (pgstatindex reads the whole index)."""


@dataclass(frozen=True)
class Widths:
    """What ``pg_stats`` says about a relation's columns."""

    columns: int  # columns of the table (or of the index)
    with_stats: int  # ... of which pg_stats has a row
    null_frac: float  # highest null fraction of any column
    width: float  # sum over the columns of (1 - null_frac) * avg_width
    has_name: bool  # a column of type name (pg_stats' avg_width is wrong for it)

    @property
    def usable(self) -> bool:
        return self.columns > 0 and self.with_stats == self.columns and not self.has_name


@dataclass(frozen=True)
class Bloat:
    """Wasted space of one relation and where the figure comes from."""

    bytes: int
    ratio: float  # of the relation's size, 0..1
    source: str  # "estimate", "pgstattuple", "pgstattuple_approx", "pgstatindex"


def _align(value: float, maxalign: int) -> int:
    size = math.ceil(value)
    return size + (-size) % maxalign


def estimate_table(
    *,
    pages: int,
    tuples: float,
    toast_pages: int,
    toast_tuples: float,
    widths: Widths | None,
    fillfactor: int,
    block_size: int,
    maxalign: int,
) -> Bloat | None:
    """Return the estimated bloat of a heap (with its TOAST table), or None when the
    statistics cannot support an estimate (never analysed, columns without statistics)."""
    if widths is None or not widths.usable or tuples < 0 or pages + toast_pages <= 0:
        return None
    bitmap = math.ceil(widths.columns / 8) if widths.null_frac > 0 else 0
    tuple_size = (
        LINE_POINTER + _align(HEAP_TUPLE_HEADER + bitmap, maxalign) + _align(widths.width, maxalign)
    )
    per_page = max(1, math.floor((block_size - PAGE_HEADER) * fillfactor / 100 / tuple_size))
    expected = math.ceil(tuples / per_page) + math.ceil(toast_tuples / TOAST_CHUNKS_PER_PAGE)
    actual = pages + toast_pages
    wasted = max(0, actual - expected)
    return Bloat(wasted * block_size, wasted / actual, "estimate")


def estimate_btree(
    *,
    pages: int,
    tuples: float,
    widths: Widths | None,
    fillfactor: int,
    block_size: int,
    maxalign: int,
) -> Bloat | None:
    """Return the estimated bloat of a btree index, or None when its statistics cannot
    support an estimate. Deduplication (PostgreSQL 13+) makes indexes on repetitive
    values smaller than estimated: they show no bloat rather than a false one."""
    if widths is None or not widths.usable or tuples < 0 or pages <= 0:
        return None
    bitmap = 4 if widths.null_frac > 0 else 0  # IndexAttributeBitMapData
    tuple_size = _align(INDEX_TUPLE_HEADER + bitmap, maxalign) + _align(widths.width, maxalign)
    room = (block_size - PAGE_HEADER - BTREE_OPAQUE) * fillfactor / 100
    per_page = max(1, math.floor(room / (LINE_POINTER + tuple_size)))
    expected = 1 + math.ceil(tuples / per_page)  # the metapage, then the leaves
    wasted = max(0, pages - expected)
    return Bloat(wasted * block_size, wasted / pages, "estimate")


def measured_table(
    *,
    table_len: int,
    dead_tuple_len: int,
    free_space: int,
    fillfactor: int,
    source: str = "pgstattuple",
) -> Bloat:
    """Return the bloat ``pgstattuple`` measured: dead tuples and free space, less the free
    space the fill factor keeps on purpose."""
    if table_len <= 0:
        return Bloat(0, 0.0, source)
    reserved = table_len * (100 - fillfactor) / 100
    wasted = max(0, round(dead_tuple_len + free_space - reserved))
    return Bloat(wasted, min(1.0, wasted / table_len), source)


def measured_btree(
    *,
    index_size: int,
    leaf_pages: int,
    empty_pages: int,
    deleted_pages: int,
    avg_leaf_density: float,
    fillfactor: int,
    block_size: int,
) -> Bloat:
    """Return the bloat ``pgstatindex`` measured: leaf pages emptier than the fill factor
    leaves them, plus empty and deleted pages. Dead entries VACUUM has not removed yet
    still count as used."""
    if index_size <= 0:
        return Bloat(0, 0.0, "pgstatindex")
    density = 0.0 if math.isnan(avg_leaf_density) else avg_leaf_density
    sparse = leaf_pages * max(0.0, 1 - density / fillfactor)
    wasted = max(0, round((sparse + empty_pages + deleted_pages) * block_size))
    return Bloat(wasted, min(1.0, wasted / index_size), "pgstatindex")
