"""Health checks: one module per check type, registered under the plan's ``type:``."""
