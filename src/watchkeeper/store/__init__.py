"""The store: SQLAlchemy engine and sessions, tables, Alembic migrations."""
