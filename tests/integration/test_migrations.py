"""Migrating an empty database gives exactly the models: no drift."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from telehealth.db import make_engine, metadata
from telehealth.models import metadata as all_models

# On both databases: the migrated schema of each database against the models.
pytestmark = pytest.mark.both_databases


async def test_the_migrated_schema_matches_the_models_exactly(database_url):
    assert all_models is metadata
    engine = make_engine(database_url)

    def diff(connection):
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, metadata)

    async with engine.connect() as conn:
        differences = await conn.run_sync(diff)
    await engine.dispose()
    assert differences == []
