"""Releases and deploys, DORA metrics and capacity forecasts.

Not built yet: this package marks the domain's place in the layout.
"""
