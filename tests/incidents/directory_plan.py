"""A plan with an emergency directory, people, a schedule and a managed escalation policy,
for the directory and policy editor tests."""

from __future__ import annotations

from textwrap import dedent

from sqlalchemy.orm import Session

from watchkeeper.plan.apply import apply_plan
from watchkeeper.plan.loader import load_plan_text

PLAN = """
notifications:
  channels:
    - {name: ops-hook, type: webhook, url: "http://127.0.0.1:9/hook"}
    - {name: chat, type: webhook, url: "http://127.0.0.1:9/chat"}
oncall:
  people:
    - name: alice
      full_name: Alice Example
      phone: "+49 30 1234-567"
      email: alice@example.com
      contact:
        - {channel: chat, after: 2m}
        - {channel: ops-hook, address: alice@example.com}
    - {name: carol, full_name: Carol Ng}
  schedules:
    - name: primary
      layers: [{members: [alice, carol]}]
    - name: secondary
      layers: [{members: [carol]}]
  escalation_policies:
    - name: default
      description: From the plan
      steps:
        - notify: [{schedule: primary}]
          escalate_after: 5m
incidents:
  major_incident: {escalation: default}
  contacts:
    - name: hoster
      kind: provider
      organisation: Hetzner Online
      phone: "+49 (9831) 505-0"
      url: https://www.hetzner.com/support
      when: Network or hardware outage in the data centre
    - name: dpa
      kind: authority
      email: breach@dpa.example
      when: Personal data breach, within 72 hours
      stakeholder: true
    - name: cto
      kind: person
      phone: "+1 555 0100"
      channel: ops-hook
      address: cto@example.com
      stakeholder: true
    - {name: shady, kind: vendor, url: "javascript:alert(1)"}
  procedures:
    - name: db-failover
      title: Fail over the database
      services: [shop-db]
      alerts: ["Postgres*"]
      body: |
        ## Before you start
        1. Check **replication lag** on the standby.
        2. Run `patronictl failover`.
    - name: disk-full
      title: Free disk space
      alerts: [DiskFull]
      body: "Delete old WAL. <script>alert('x')</script>"
"""


def apply(db: Session, text: str = PLAN) -> None:
    """Apply ``text`` as the plan file (its objects become managed) and commit."""
    apply_plan(db, load_plan_text(dedent(text), file="watchkeeper.yaml", env={}))
    db.commit()
