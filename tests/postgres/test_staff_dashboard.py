"""The staff dashboard's SQL on PostgreSQL (percentile_cont, date casts): the same tests as on
SQLite, so both dialects' aggregates give the rows' numbers."""

from tests.blueprints.test_staff_dashboard import (  # noqa: F401  (fixtures and tests run here)
    rows,
    staff_client,
    test_seven_days_adds_the_older_rows,
    test_thirty_days_keeps_currencies_apart_and_drops_older_rows,
    test_today_counts_statuses_conversion_revenue_median_and_errors,
)
