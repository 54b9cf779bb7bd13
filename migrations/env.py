"""Alembic environment: runs on a connection handed in by kpis.store.engine, or the configured URL."""

from alembic import context

from kpis.store.models import Base

target_metadata = Base.metadata
config = context.config


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    conn = config.attributes.get("connection")
    if conn is not None:
        _run(conn)
        return
    from kpis.config import get_config
    from kpis.store.engine import make_engine

    engine = make_engine(get_config().database_url())
    with engine.begin() as connection:
        _run(connection)


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `python -m kpis db upgrade`")
run_migrations_online()
