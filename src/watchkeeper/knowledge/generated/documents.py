"""The generated documents: what there is, and each one built for a reader (the UI, the
API, the offline bundle).

Never stale: a document is built from the store when asked for. Built documents are kept
in a small in-process cache keyed by the plan version (any apply, any object edited in the
UI), a fingerprint of the store state the documents show (check states, hosts, backup
runs, database health, on-call overrides, firing alerts) and the minute (on-call shifts and
backup schedules move with the clock), so a plan change is seen by the next request on
every replica.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import Counter, Histogram
from sqlalchemy.orm import Session

from watchkeeper.exceptions import NotFoundError
from watchkeeper.knowledge.generated import architecture, dr, inventory
from watchkeeper.knowledge.generated import markdown as md
from watchkeeper.knowledge.generated.dr import PolicyRunbook
from watchkeeper.knowledge.generated.version import PlanVersion, plan_version, store_state
from watchkeeper.store.tables import utcnow
from watchkeeper.telemetry import REGISTRY

CACHE_SIZE = 48

GENERATED = Counter(
    "watchkeeper_knowledge_documents_generated_total",
    "Generated documents built (cache misses), by document.",
    ["document"],
    registry=REGISTRY,
)
CACHE_HITS = Counter(
    "watchkeeper_knowledge_document_cache_hits_total",
    "Generated documents served from the cache, by document.",
    ["document"],
    registry=REGISTRY,
)
BUILD_SECONDS = Histogram(
    "watchkeeper_knowledge_document_build_seconds",
    "Time to build a generated document, by document.",
    ["document"],
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


@dataclass(frozen=True)
class DocumentInfo:
    name: str
    title: str
    summary: str


DOCUMENTS: tuple[DocumentInfo, ...] = (
    DocumentInfo(
        "inventory",
        "System inventory",
        "Hosts with their inventory, services, checks with their state, databases, backups "
        "with their last good backup and drill, and who is on call now.",
    ),
    DocumentInfo(
        "architecture",
        "Architecture overview",
        "The declared services and what each depends on, drawn as a diagram, with their "
        "team and current health.",
    ),
    DocumentInfo(
        "dr",
        "Disaster-recovery runbooks",
        "How to restore each backup policy, with restic alone if need be, and what its last "
        "drill proved.",
    ),
)
BY_NAME = {d.name: d for d in DOCUMENTS}


@dataclass(frozen=True)
class GeneratedDocument:
    """One document as built: its Markdown (headed by when and from what it was built), the
    architecture's diagram (``svg_inline`` for a page, ``svg_file`` on its own) and the DR
    runbooks one by one (``parts``)."""

    info: DocumentInfo
    markdown: str
    generated_at: datetime
    plan: PlanVersion
    svg_inline: str = ""
    svg_file: str = ""
    parts: tuple[PolicyRunbook, ...] = ()

    @property
    def body(self) -> str:
        """The Markdown under the title and the provenance line (for a page that shows
        those itself)."""
        return self.markdown.split("\n", 3)[3] if self.markdown.count("\n") >= 3 else ""

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def title(self) -> str:
        return self.info.title

    @property
    def provenance(self) -> str:
        """ "Generated at 2026-12-06 04:30 UTC from plan version 12 (...)"."""
        return f"Generated at {md.when(self.generated_at)} from {self.plan.describe()}"


def _stamp(markdown: str, provenance: str) -> str:
    """Put the provenance line under the document's first heading."""
    head, _, rest = markdown.partition("\n")
    return f"{head}\n\n_{md.text(provenance)}._\n{rest}"


def _build(
    db: Session, name: str, links: md.Links, now: datetime, plan: PlanVersion
) -> GeneratedDocument:
    info = BY_NAME[name]
    provenance = f"Generated at {md.when(now)} from {plan.describe()}"
    if name == "architecture":
        arch = architecture.build(db, links)
        return GeneratedDocument(
            info, _stamp(arch.markdown, provenance), now, plan, arch.svg_inline, arch.svg_file
        )
    if name == "dr":
        runbooks = dr.build(db, links, now)
        return GeneratedDocument(
            info, _stamp(runbooks.markdown, provenance), now, plan, parts=runbooks.parts
        )
    return GeneratedDocument(info, _stamp(inventory.build(db, links, now), provenance), now, plan)


class DocumentCache:
    """Built documents by (name, reader, plan version, store state, minute); thread-safe,
    least recently used ones dropped past ``size``."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple[object, ...], GeneratedDocument] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_build(
        self, key: tuple[object, ...], name: str, build: Callable[[], GeneratedDocument]
    ) -> GeneratedDocument:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                CACHE_HITS.labels(name).inc()
                return found
        started = time.perf_counter()
        built = build()
        BUILD_SECONDS.labels(name).observe(time.perf_counter() - started)
        GENERATED.labels(name).inc()
        with self._lock:
            self._items[key] = built
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return built

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


CACHE = DocumentCache()


def get_document(
    db: Session,
    name: str,
    links: md.Links,
    *,
    now: datetime | None = None,
    cache: DocumentCache | None = CACHE,
) -> GeneratedDocument:
    """Return the document ``name`` for ``links``' reader; raise NotFoundError for a name
    that is not one of :data:`DOCUMENTS`."""
    if name not in BY_NAME:
        known = ", ".join(BY_NAME)
        raise NotFoundError(f'there is no generated document "{name}" (there are: {known})')
    moment = (now or utcnow()).replace(second=0, microsecond=0)
    plan = plan_version(db)
    if cache is None:
        return _build(db, name, links, moment, plan)
    key = (name, links, plan.key, store_state(db), moment)
    return cache.get_or_build(key, name, lambda: _build(db, name, links, moment, plan))


def all_documents(
    db: Session, links: md.Links, *, now: datetime | None = None
) -> list[GeneratedDocument]:
    """Every generated document, in :data:`DOCUMENTS` order."""
    return [get_document(db, d.name, links, now=now) for d in DOCUMENTS]
