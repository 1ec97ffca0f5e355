"""sqlite: health collection (collect.py) and maintenance (maintenance.py)."""
