"""Row locks, always taken in primary-key order so that two paths never deadlock."""

from django.db.models import QuerySet

from terminals.models import Terminal


def terminal_qs_select_for_update() -> QuerySet[Terminal]:
    return Terminal.objects.select_for_update(of=("self",)).order_by("pk")


def enterprise_qs_select_for_update():
    from tenancy.models import Enterprise

    return Enterprise.objects.select_for_update().order_by("pk")
