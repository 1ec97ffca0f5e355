"""Metrics: ingest (scrape, Prometheus remote-write, OTLP), storage, queries, retention and rollups.

Not built yet: this package marks the domain's place in the layout.
"""
