"""Error tracking over the Sentry protocol, grouping, and anomalies in logs.

Not built yet: this package marks the domain's place in the layout.
"""
