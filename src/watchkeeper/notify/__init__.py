"""Notifications: one module per channel, and reliable delivery through an outbox.

Not built yet: this package marks the domain's place in the layout.
"""
