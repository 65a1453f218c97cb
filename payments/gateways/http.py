"""What every adapter reads the same way from an HTTP answer, whatever the provider."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (RFC 9110: a number of seconds or an HTTP date); None when absent
    or unreadable, so the poller's own backoff applies. Never negative."""
    if not value or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
