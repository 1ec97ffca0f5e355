"""Alerts: rules, evaluation, alert states, grouping, silences and maintenance windows.

Not built yet: this package marks the domain's place in the layout.
"""
