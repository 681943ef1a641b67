"""Services: the only functions that change tenancy state. Keyword-only, typed, atomic, audited.

Split by entity: enterprises, merchants, stores, people (memberships, invitations, passwords),
api_keys, documents. Permission checks live here too (`require()`), so the API, the admin and
tasks all enforce the same rules.
"""
