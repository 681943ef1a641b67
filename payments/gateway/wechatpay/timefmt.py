"""Provider times: Beijing time (UTC+8), `yyyyMMddHHmmss` in the API, dates `yyyyMMdd`."""

from datetime import UTC, date, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")


def to_provider(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("provider times must be built from aware datetimes")
    return moment.astimezone(BEIJING).strftime("%Y%m%d%H%M%S")


def from_provider(value: str) -> datetime:
    """Parse `yyyyMMddHHmmss` (Beijing) into an aware UTC datetime; ValueError if malformed."""
    return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=BEIJING).astimezone(UTC)


def bill_date(moment: datetime) -> date:
    """The provider's bill day of a moment: the Beijing calendar date."""
    return moment.astimezone(BEIJING).date()


def beijing_day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=BEIJING)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)
