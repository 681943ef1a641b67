"""The business day: the provider's bill day, a Beijing (Asia/Shanghai) calendar day.

A shop's "today" is the day the provider's bill counts (reference §7: 00:00–24:00 Beijing time),
so a cashier's day, the summary of today's sales and tomorrow's reconciliation agree. It does not
follow TIME_ZONE, which only chooses how times are displayed.
"""

from datetime import date, datetime

from django.utils import timezone

from payments.gateway.wechatpay.timefmt import beijing_day_bounds, bill_date

TIME_ZONE = "Asia/Shanghai"  # UTC+8 all year: the zone of the provider's bill day


def business_day(moment: datetime | None = None) -> date:
    """The business day a moment (default: now) belongs to."""
    return bill_date(moment or timezone.now())


def business_day_bounds(day: date) -> tuple[datetime, datetime]:
    """The day's start and end as aware UTC datetimes, end excluded."""
    return beijing_day_bounds(day)


def today_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    return business_day_bounds(business_day(now))
