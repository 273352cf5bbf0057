"""Prometheus metrics: what Tollgate counts and how `/metrics` reads it (docs/operations.md).

- `record`: the metrics this process counts as things happen (requests, gateway calls,
  transitions, notifications, sweeps), named once, each recorded through one small function.
- `database`: the gauges read from the database at scrape time (backlog, oldest pending
  payment, outbox, the sweep's heartbeat, the gateway breakers), the same for every process.
- `exposition`: the text a scrape gets, from this process alone or, with
  PROMETHEUS_MULTIPROC_DIR set, from every process sharing that directory.
- `directory`: that directory's housekeeping, for gunicorn.conf.py's hooks.
"""
