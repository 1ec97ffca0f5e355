"""The evidence queries controls are built from, by name (:data:`registry`).

Importing this package registers the built-in queries: one module per kind of data
(backups, access, logs, vulnerabilities, encryption, operations).
"""

from __future__ import annotations

from watchkeeper.security.compliance.evidence import (  # noqa: F401  (registers the queries)
    access,
    backups,
    encryption,
    logs,
    operations,
    tasks,
    training,
    vulnerabilities,
)
from watchkeeper.security.compliance.evidence.interface import (
    Evidence,
    EvidenceQuery,
    Fact,
    Status,
    registry,
)

__all__ = ["Evidence", "EvidenceQuery", "Fact", "Status", "registry"]
