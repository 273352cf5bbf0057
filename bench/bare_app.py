"""The baseline of bench/web.py: a bare Flask app under the same gunicorn settings.

What the product's pages would cost if they did nothing but render a template of the same size.
`GET /page/<bytes>` renders templates/bare_page.html (cards of mostly static markup with a few
variables each, inside a small layout) to about that many bytes; `GET /json/<bytes>` returns a
JSON object of about that size; `POST /store` stores the raw request body as one row in
PostgreSQL and commits (the bare twin of an IPN). `GET /row/<ref>/page/<bytes>` and
`GET /row/<ref>/json/<bytes>` first run BARE_ROW_SQL (the product's status SELECT, with a `ref`
parameter) on an autocommit connection, as the product's status views do: the twin that does
the same read, for comparison. No sessions, CSRF, rate limits, logging or
gateway registry: the ratio product/bare is what all of those, and the product's own work, cost.

Environment: BARE_DATABASE_URL (the bench's database; `bare_rows` is created by bench/web.py),
BARE_ROW_SQL.
"""

from __future__ import annotations

import os
from functools import cache

from flask import Flask, Response, abort, jsonify, render_template, request
from sqlalchemy import create_engine, text

app = Flask(__name__)
engine = create_engine(
    os.environ.get("BARE_DATABASE_URL", "sqlite://").replace(
        "postgresql://", "postgresql+psycopg://", 1
    )
)
reader = engine.execution_options(isolation_level="AUTOCOMMIT")
ROW_SQL = os.environ.get("BARE_ROW_SQL", "")

_ROW = {"slug": "row-slug-00", "name": "A row of the bare page", "price": "12.50 USD"}
_ROW_BYTES = 630  # about what one rendered card of templates/bare_page.html takes


@cache
def _rows(size: int) -> tuple[dict[str, str], ...]:
    return tuple(dict(_ROW, slug=f"row-slug-{i:02d}") for i in range(max(1, size // _ROW_BYTES)))


@app.get("/page/<int:size>")
def page(size: int) -> str:
    return render_template("bare_page.html", title="Bare page", rows=_rows(size))


@app.get("/json/<int:size>")
def data(size: int) -> Response:
    fields = max(1, size // 40)
    return jsonify({f"field_{i:04d}": "a value of the bare json" for i in range(fields)})


@app.get("/row/<ref>/page/<int:size>")
def page_after_read(ref: str, size: int) -> str:
    _read(ref)
    return page(size)


@app.get("/row/<ref>/json/<int:size>")
def data_after_read(ref: str, size: int) -> Response:
    _read(ref)
    return data(size)


def _read(ref: str) -> None:
    with reader.connect() as conn:
        if conn.exec_driver_sql(ROW_SQL, {"ref": ref}).first() is None:
            abort(404)


@app.post("/store")
def store() -> tuple[str, int]:
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO bare_rows (body) VALUES (:body)"),
            {"body": request.get_data(as_text=True)},
        )
    return "stored", 200
