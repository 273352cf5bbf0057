"""The staff dashboard at /staff/: how payments are going over today, 7 or 30 days.

The numbers come aggregated from SQL (payments.staff_stats); this module only lays them out per
day, draws each as an SVG chart (charts.py) and hands the same numbers to the template for the
screen-reader tables. The period is a GET parameter, so a chosen view can be bookmarked or sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask import current_app, render_template, request, url_for
from markupsafe import Markup

from ..gateways import registry
from ..money import Money
from ..payments import staff_stats as stats
from ..payments.states import WORDS
from ..states import PaymentStatus
from . import charts

#: stacking order (paid at the bottom) and colour of each status
STATUS_COLOURS = {
    PaymentStatus.COMPLETED: "#4cd964",
    PaymentStatus.REFUNDED: "#7dd3fc",
    PaymentStatus.PENDING: "#ffd166",
    PaymentStatus.CREATED: "#8e8e93",
    PaymentStatus.FAILED: "#ff9b9b",
    PaymentStatus.EXPIRED: "#c4a7ff",
    PaymentStatus.CANCELLED: "#fe720b",
}


@dataclass(frozen=True)
class Chart:
    """One chart and the table of its numbers: a header row and rows of shown cells."""

    svg: Markup
    header: list[str]
    rows: list[list[str]]


def _day_label(day: date) -> str:
    return day.strftime("%d %b")


def _duration(seconds: int) -> str:
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _payments_chart(window: stats.Window) -> Chart:
    counts = stats.payments_per_day(window)
    shown = [s for s in STATUS_COLOURS if any(counts.get((d, s), 0) for d in window.days)]
    series = [
        charts.Series(WORDS[s], [counts.get((d, s), 0) for d in window.days], STATUS_COLOURS[s])
        for s in shown
    ]
    svg = charts.bars(
        "Payments started per day, by status now",
        [_day_label(d) for d in window.days],
        series,
        x_label="Day (UTC)",
        y_label="Payments",
        chart_id="payments-per-day",
    )
    rows = [
        [
            d.isoformat(),
            *(str(counts.get((d, s), 0)) for s in shown),
            str(sum(counts.get((d, s), 0) for s in STATUS_COLOURS)),
        ]
        for d in window.days
    ]
    return Chart(svg, ["Day", *(WORDS[s] for s in shown), "All"], rows)


def _conversion_chart(window: stats.Window) -> Chart:
    found = stats.conversion(window)
    svg = charts.hbars(
        "Conversion per gateway: payments started that were paid",
        [(registry.label_for(c.gateway), c.percent, f"{c.percent} %") for c in found],
        x_label="Paid, per cent of started",
        y_label="Gateway",
        chart_id="conversion",
        top=100,
    )
    rows = [
        [registry.label_for(c.gateway), str(c.opened), str(c.paid), f"{c.percent} %"] for c in found
    ]
    return Chart(svg, ["Gateway", "Started", "Paid", "Conversion"], rows)


def _revenue_charts(window: stats.Window) -> list[tuple[str, Chart]]:
    """One chart per currency: amounts in different currencies are never added together."""
    totals = stats.revenue_per_day(window)
    result = []
    for currency in sorted({c for _, c in totals}):
        values = [totals.get((d, currency), 0) for d in window.days]
        svg = charts.bars(
            f"Paid per day in {currency} (minor units)",
            [_day_label(d) for d in window.days],
            [charts.Series(currency, values, charts.PALETTE[0])],
            x_label="Day the money arrived (UTC)",
            y_label=f"{currency}, minor units",
            chart_id=f"revenue-{currency.lower()}",
        )
        rows = [
            [d.isoformat(), str(Money(v, currency))]
            for d, v in zip(window.days, values, strict=True)
        ]
        result.append((currency, Chart(svg, ["Day", f"Paid in {currency}"], rows)))
    return result


def _median_chart(window: stats.Window) -> Chart:
    medians = stats.median_seconds_to_paid(window)
    ordered = sorted(medians.items())
    svg = charts.hbars(
        "Median time from start to paid, per gateway",
        [(registry.label_for(g), s, _duration(s)) for g, s in ordered],
        x_label="Seconds",
        y_label="Gateway",
        chart_id="median-to-paid",
    )
    rows = [[registry.label_for(g), _duration(s), str(s)] for g, s in ordered]
    return Chart(svg, ["Gateway", "Median to paid", "Seconds"], rows)


def _errors_chart(window: stats.Window) -> Chart:
    found = stats.errors_per_day(window)
    gateways = sorted({e.gateway for e in found})
    by_key = {(e.day, e.gateway): e for e in found}
    series = [
        charts.Series(
            registry.label_for(g),
            [by_key[(d, g)].errors if (d, g) in by_key else 0 for d in window.days],
            charts.PALETTE[i % len(charts.PALETTE)],
        )
        for i, g in enumerate(gateways)
    ]
    svg = charts.bars(
        "Gateway errors per day",
        [_day_label(d) for d in window.days],
        series,
        x_label="Day (UTC)",
        y_label="Errors",
        chart_id="errors-per-day",
    )
    rows = [
        [
            e.day.isoformat(),
            registry.label_for(e.gateway),
            str(e.errors),
            str(e.answers),
            f"{(100 * e.errors + e.answers // 2) // e.answers} %",
        ]
        for e in found
    ]
    return Chart(svg, ["Day", "Gateway", "Errors", "Answers recorded", "Error rate"], rows)


def render() -> str:
    """The dashboard page for the period in `?period=` (today when absent or unknown)."""
    try:
        period = stats.Period(request.args.get("period", stats.Period.TODAY))
    except ValueError:
        period = stats.Period.TODAY
    window = stats.Window.of(period)
    late, flagged = stats.late_and_flagged(window)
    has_review = "staff.review" in current_app.view_functions
    return render_template(
        "staff/dashboard.html",
        period=period,
        periods=list(stats.Period),
        window=window,
        payments_chart=_payments_chart(window),
        conversion_chart=_conversion_chart(window),
        revenue_charts=_revenue_charts(window),
        median_chart=_median_chart(window),
        errors_chart=_errors_chart(window),
        late=late,
        flagged=flagged,
        runs=stats.recent_runs(),
        oldest=stats.oldest_open(),
        duration=_duration,
        words=WORDS,
        label=registry.label_for,
        review_url=url_for("staff.review") if has_review else None,
    )
