"""The central system's whole SQL schema: every table on one ``MetaData``.

The store, the sites, the HTTP API, DER control and battery swaps each declare their tables
in their own ``tables`` module, on the store's metadata (:data:`csms.store.tables.metadata`).
This module sits above them all and imports each, so that what compares a database with the
code sees the schema whole: the schema tests, and Alembic's autogenerate::

    from alembic import command
    command.revision(alembic_config_with_schema(url), autogenerate=True, message="...")

The migrations import no table module (a revision states its tables as they were when it was
written, and the store sits below the sites and the API): Alembic gets the schema from
``config.attributes["target_metadata"]``, which :func:`alembic_config_with_schema` sets.
"""

from __future__ import annotations

from alembic.config import Config
from sqlalchemy import MetaData

from csms.api import tables as api_tables
from csms.der import tables as der_tables
from csms.sites import tables as site_tables
from csms.store import tables as store_tables
from csms.store.migrate import alembic_config
from csms.swaps import tables as swap_tables

__all__ = ["TABLE_MODULES", "alembic_config_with_schema", "metadata"]

#: Every module that declares tables, lowest first.
TABLE_MODULES = (store_tables, site_tables, api_tables, der_tables, swap_tables)

#: The whole schema (the store's metadata, with every other module's tables on it).
metadata: MetaData = store_tables.metadata


def alembic_config_with_schema(url: str | None = None) -> Config:
    """:func:`csms.store.migrate.alembic_config` with the whole schema as Alembic's target
    metadata: what autogenerate and ``alembic check`` compare the database with."""
    config = alembic_config(url)
    config.attributes["target_metadata"] = metadata
    return config
