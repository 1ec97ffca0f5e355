"""Database maintenance and health for PostgreSQL, MariaDB/MySQL and SQLite.

Not built yet: this package marks the domain's place in the layout.
"""
