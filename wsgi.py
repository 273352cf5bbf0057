"""WSGI entry point for gunicorn: `gunicorn wsgi:app`.

create_app() reads `.env` and the environment itself.
"""

from checkout import create_app

app = create_app()
