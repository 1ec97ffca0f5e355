"""Centralized logs: ingest, parsing, storage, search, retention and live tail.

Not built yet: this package marks the domain's place in the layout.
"""
