"""Compliance controls as data, their automated evidence, the plan-compliance view and the
signed compliance report."""
