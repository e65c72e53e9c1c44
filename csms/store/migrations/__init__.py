"""Alembic migration environment and revisions of the SQL store (shipped as a package so
the scripts are installed with it)."""
