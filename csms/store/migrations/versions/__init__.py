"""Revisions of the SQL store schema."""
