"""Shared by the releases tests: a plan with gated and ungated services, applying it."""

from __future__ import annotations

import textwrap

from sqlalchemy.orm import Session, sessionmaker

from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text

PLAN = """
alerts:
  maintenance_windows:
    - name: nightly
      weekly: [{days: [mon, tue, wed, thu, fri], start: "23:00", end: "01:00"}]
    - name: patching
      cron: "0 6 * * sat"
      duration: 2h
security:
  patch_windows: [patching]
releases:
  services:
    - name: api
      team: web
      versioning: semver
      repository: https://git.example.com/web/api
      environments: [production, staging]
      hosts: ["web-*"]
      depends_on: [billing]
      gate:
        window: 30m
        open_incident: true
        severity: SEV2
        metrics:
          - name: error_rate
            expr: sum(rate(http_errors_total{service="api"}[5m]))
            threshold: 0.2
            min_change: 0.05
          - name: p95_latency
            expr: max(http_latency_p95_seconds{service="api"})
            threshold: 0.5
    - name: billing
      team: payments
      versioning: calver
      calver_format: YYYY.0M.MICRO
      environments: [production]
  planned:
    - name: api-two
      service: api
      version: 2.0.0
      at: 2026-12-10T14:00:00Z
      description: the new pricing
  freezes:
    - name: year-end
      start: 2025-12-20T00:00:00Z
      end: 2026-01-04T00:00:00Z
      services: [api]
"""


def apply(sessions: sessionmaker[Session], text: str = PLAN) -> None:
    """Apply ``text`` as the plan."""
    with sessions() as db:
        apply_plan(db, load_plan_text(textwrap.dedent(text)))
        db.commit()
