"""One app process for tests/redis: the test app on its port, configured from SERVE_* variables."""

from __future__ import annotations

import os

from werkzeug.serving import make_server

from tests.conftest import make_test_app


def main() -> None:
    overrides = {
        key.removeprefix("SERVE_SET_"): int(value)
        for key, value in os.environ.items()
        if key.startswith("SERVE_SET_")
    }
    app = make_test_app(
        os.environ["SERVE_SANDBOX_URL"],
        os.environ["SERVE_DATABASE_URI"],
        RATELIMIT_STORAGE_URI=os.environ["SERVE_STORAGE_URI"],
        **overrides,
    )
    make_server("127.0.0.1", int(os.environ["SERVE_PORT"]), app, threaded=True).serve_forever()


if __name__ == "__main__":
    main()
