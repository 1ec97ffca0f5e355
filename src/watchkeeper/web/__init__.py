"""Server-rendered UI: Jinja2 templates + htmx, assets installed from npm at set-up."""
