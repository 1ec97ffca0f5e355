"""Error tracking over the Sentry protocol: projects and DSN keys, the ingest (envelopes,
scrubbing, grouping into issues, a group-committing writer), retention and the read views.

Anomalies in logs come later in this domain.
"""
