from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from tenancy.models import Enterprise, Merchant, Store
from tenancy.principals import principal_from_request
from tenancy.scoping import scope


def describe_scope(principal) -> str:
    """Say in words what the principal sees: "every tenant", or the names of its grants."""
    if principal.sees_every_tenant:
        return "every tenant (ops)"
    names = [
        *(
            f"enterprise {e.display_name}"
            for e in scope(principal, Enterprise).filter(pk__in=principal.enterprise_ids)
        ),
        *(
            f"merchant {m.name}"
            for m in scope(principal, Merchant).filter(pk__in=principal.merchant_ids)
        ),
        *(f"store {s.name}" for s in scope(principal, Store).filter(pk__in=principal.store_ids)),
    ]
    return ", ".join(names) or "nothing yet: ask your administrator for access"


@login_required
def dashboard(request):
    """The live dashboard: what the signed-in person may see, updated over /ws/dashboard/."""
    principal = principal_from_request(request)
    return render(
        request,
        "dashboards/dashboard.html",
        {"principal": principal, "scope_label": describe_scope(principal)},
    )
