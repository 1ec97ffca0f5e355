"""Backups: policies, engines, retention and restore verification.

Not built yet: this package marks the domain's place in the layout.
"""
