"""Releases and deploys, release gates, the release calendar, DORA metrics and capacity
forecasts."""
