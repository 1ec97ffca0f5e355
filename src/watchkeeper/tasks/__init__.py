"""Recurring human maintenance tasks, reviews, training records and the calendar.

Not built yet: this package marks the domain's place in the layout.
"""
