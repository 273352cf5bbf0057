"""The payment domain: statuses, the one funnel that changes them, and reconciliation."""
