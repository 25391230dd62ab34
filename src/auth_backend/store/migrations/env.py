"""Alembic environment: runs on the connection the service hands over at start-up."""

from __future__ import annotations

from alembic import context

from auth_backend.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "Migrations run on start-up through auth_backend.store.migrations.migrate(); "
        "start the service (or call migrate) instead of invoking alembic directly."
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things in place; batch mode recreates tables when needed.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
