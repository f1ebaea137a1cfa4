"""Migrations build the schema the models describe, and undo it, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from callcenter import migrate, models
from callcenter.db import create_engine


async def _tables(database_url: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    finally:
        await engine.dispose()


async def _revision(database_url: str) -> str | None:
    engine = create_engine(database_url)
    try:
        return await migrate.current_revision(engine)
    finally:
        await engine.dispose()


async def test_downgrade_to_base_and_upgrade_again(database_url: str) -> None:
    expected = set(models.Base.metadata.tables)
    assert await _revision(database_url) == migrate.head_revision()
    assert expected <= await _tables(database_url)

    try:
        migrate.downgrade(database_url, "base")
        assert await _tables(database_url) == {"alembic_version"}
        assert await _revision(database_url) is None
    finally:
        migrate.upgrade(database_url)  # the session's database must end at head

    assert await _tables(database_url) == expected | {"alembic_version"}
    assert await _revision(database_url) == migrate.head_revision()


async def test_models_match_the_migrations(database_url: str) -> None:
    """A model change without a migration shows up here; write the migration."""
    engine = create_engine(database_url)

    def differences(sync_connection) -> list:
        context = MigrationContext.configure(
            sync_connection, opts={"compare_type": True, "compare_server_default": False}
        )
        return compare_metadata(context, models.Base.metadata)

    try:
        async with engine.connect() as connection:
            found = await connection.run_sync(differences)
    finally:
        await engine.dispose()

    assert found == [], "models and migrations differ; run alembic revision --autogenerate"
