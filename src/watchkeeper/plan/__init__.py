"""The plan file: models, loader with file:line errors, and diff/apply/export against the store."""
