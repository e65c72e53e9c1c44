"""Alembic environment: runs on the connection the caller passes in
``config.attributes["connection"]`` (see ``csms.store.migrate``), or on an async engine
made from ``sqlalchemy.url`` when run by the ``alembic`` command.

The schema the code declares (what autogenerate compares with) comes from the caller in
``config.attributes["target_metadata"]`` (:func:`csms.schema.alembic_config_with_schema`):
the migrations sit below the tables of the sites and the API and import none of them.
Upgrading needs no metadata: each revision states its own tables."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

config = context.config
target_metadata = config.attributes.get("target_metadata")


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    from csms.store.engine import create_engine

    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url or pass a connection")
    asyncio.run(_run_async(url))


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
