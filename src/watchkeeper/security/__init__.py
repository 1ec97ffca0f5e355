"""Vulnerability audits, patch plans, hardening checks and compliance reports.

Not built yet: this package marks the domain's place in the layout.
"""
