"""Vulnerability audits (offline OSV database, inventories, findings, patch plan), hardening
checks and compliance (controls, evidence, plan compliance, reports)."""
