"""HTTP views, one module per concern. Each exposes register(app)."""
