"""Fixtures shared by the backups tests (seeded databases, a restic repository)."""

from tests.backups.dbs import my_db, pg_db, repo, repo_template, restic

__all__ = ["my_db", "pg_db", "repo", "repo_template", "restic"]
