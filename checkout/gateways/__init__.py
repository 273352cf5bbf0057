"""Gateway clients: one module per gateway, each the production HTTP client for its real API."""
