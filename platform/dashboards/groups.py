"""Which live-update groups a principal may join (DESIGN.md "Live updates")."""

from tenancy.principals import Principal

OPS_GROUP = "ops"


def groups_for(principal: Principal) -> list[str]:
    """Every group whose events this principal may see; empty for a principal that sees nothing.

    Ops staff join the one `ops` group, which receives every event; tenant people join the
    enterprise, merchant and store groups of their grants, so an event reaches them exactly when
    its object is in their scope.
    """
    if principal.sees_every_tenant:
        return [OPS_GROUP]
    groups = [f"enterprise.{pk}" for pk in sorted(principal.enterprise_ids)]
    groups += [f"merchant.{pk}" for pk in sorted(principal.merchant_ids)]
    groups += [f"store.{pk}" for pk in sorted(principal.store_ids)]
    return groups
