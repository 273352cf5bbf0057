"""`flask db upgrade` builds exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from checkout.extensions import db
from tests.conftest import make_test_app


def test_migrations_match_the_models(sandbox, tmp_path) -> None:
    app = make_test_app(sandbox.url, f"sqlite:///{tmp_path / 'migrated.sqlite3'}")
    with app.app_context():
        upgrade()
        with db.engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), db.metadata)
        db.engine.dispose()
    assert diff == []
