"""Alembic environment: runs migrations for the bot's models on SQLite or PostgreSQL.

Three ways in:
* ``database.engine.migrate(url)`` passes an open connection in ``config.attributes``;
* the ``alembic`` CLI (``alembic.ini`` at the repository root) opens an engine from
  ``sqlalchemy.url`` or ``-x url=...``;
* offline mode (``alembic upgrade head --sql``) renders the SQL without a database.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from database.engine import make_engine
from database.models import Base

config = context.config
target_metadata = Base.metadata

# Only the CLI configures logging; a programmatic migrate() must not reset the bot's logging.
if config.config_file_name is not None and "connection" not in config.attributes:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if url:
        return url
    configured = config.get_main_option("sqlalchemy.url")
    if not configured:
        raise RuntimeError("No database URL: set sqlalchemy.url or pass -x url=...")
    return configured


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: autogenerate batch (copy-and-move) operations for it.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    """Render the migration SQL to the output buffer instead of running it."""
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the given connection, or on a new engine."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
