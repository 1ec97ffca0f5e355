"""Log anomalies: lines mined into templates per stream (Drain), new templates and template
rates far outside their usual range for the hour of day (docs/log-anomalies.md)."""
