"""Incidents, on-call schedules, escalation policies, postmortems and the status page.

Not built yet: this package marks the domain's place in the layout.
"""
