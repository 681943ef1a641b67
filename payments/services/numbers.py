"""Provider order numbers: unique, at most 32 characters, never reused.

A number is minted for every new attempt and never recycled: the provider refuses to pay a number
again once it was paid, closed or reversed (reference §1). The unique constraints on Payment and
Refund are the guarantee; the random part makes a collision (and a retry) practically impossible.
"""

import re
import secrets
from datetime import datetime

from django.utils import timezone

# The provider's charset (reference §1): digits, letters and _ - | * @.
PROVIDER_NUMBER = re.compile(r"^[0-9A-Za-z_\-|*@]{1,32}$")


def _number(prefix: str, now: datetime | None) -> str:
    stamp = timezone.localtime(now or timezone.now(), timezone.get_fixed_timezone(480))
    # 2 + 12 + 16 = 30 characters: sortable by time, unguessable, unique in practice.
    return f"{prefix}{stamp:%y%m%d%H%M%S}{secrets.token_hex(8)}"


def new_out_trade_no(now: datetime | None = None) -> str:
    return _number("SY", now)


def new_out_refund_no(now: datetime | None = None) -> str:
    return _number("RF", now)
