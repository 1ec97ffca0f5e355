"""Capacity planning: trends and forecasts of when hosts, databases and named metrics reach
their limits."""
