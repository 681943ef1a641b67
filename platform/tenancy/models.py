"""Enterprises, merchants, stores, the people who act on them, and the audit log.

Every tenant-owned row carries `enterprise_id` (the future Citus distribution column), set by a
service and never from a request body. A row that also points at a merchant or a store has a
composite foreign key `(merchant_id, enterprise_id)` / `(store_id, enterprise_id)` added in the
migrations (see tenancy.constraints), so the database refuses a row whose enterprise differs from
its parent's. Each tenant-owned model declares `scope_fields`, the lookups by which tenancy.scoping
reaches it from a principal's enterprise, merchant and store ids.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from config.encryption import EncryptedTextField, mask
from tenancy.validators import validate_credit_code


class OpsRole(models.TextChoices):
    OPS_ADMIN = "ops_admin", "Ops admin"
    OPS_REVIEWER = "ops_reviewer", "Ops reviewer"
    OPS_SUPPORT = "ops_support", "Ops support (read-only)"


class TenantRole(models.TextChoices):
    ENTERPRISE_ADMIN = "enterprise_admin", "Enterprise admin"
    MERCHANT_MANAGER = "merchant_manager", "Merchant manager"
    CASHIER = "cashier", "Cashier"
    AUDITOR = "auditor", "Auditor (read-only)"


class StaffProfile(models.Model):
    """A provider staff member's ops role. Platform-level: not tenant-owned."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_profile"
    )
    role = models.CharField(max_length=20, choices=OpsRole.choices)

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()})"


class EnterpriseState(models.TextChoices):
    INVITED = "invited", "Invited"
    APPLYING = "applying", "Applying"
    UNDER_REVIEW = "under_review", "Under review"
    REJECTED = "rejected", "Rejected"
    TRIAL = "trial", "Trial"
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    OFFBOARDED = "offboarded", "Offboarded"


# An enterprise in one of these states may operate: its finished merchants can take payments.
OPERATING_ENTERPRISE_STATES = frozenset({EnterpriseState.TRIAL, EnterpriseState.ACTIVE})


class Enterprise(models.Model):
    """A trial enterprise: the tenant. Its state moves only through tenancy.statemachine."""

    scope_fields = {"enterprise": "id", "member": "id"}

    legal_name = models.CharField(max_length=200)
    display_name = models.CharField(max_length=100)
    credit_code = models.CharField(
        "unified social credit code",
        max_length=18,
        unique=True,
        null=True,
        blank=True,
        validators=[validate_credit_code],
    )
    contact_name = models.CharField(max_length=100, blank=True)
    contact_email = models.EmailField(blank=True)
    contact_phone = models.CharField(max_length=30, blank=True)
    address = models.CharField(max_length=300, blank=True)
    state = models.CharField(
        max_length=20,
        choices=EnterpriseState.choices,
        default=EnterpriseState.INVITED,
        editable=False,
        db_index=True,
    )
    review_reasons = models.JSONField(default=list, blank=True, editable=False)
    trial_starts_on = models.DateField(null=True, blank=True, editable=False)
    trial_ends_on = models.DateField(null=True, blank=True, editable=False)
    terminal_quota = models.PositiveIntegerField(default=0, editable=False)
    trial_warning_sent_on = models.DateField(null=True, blank=True, editable=False)
    suspended_from = models.CharField(max_length=20, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(trial_ends_on__isnull=True)
                | Q(trial_starts_on__isnull=False, trial_ends_on__gte=models.F("trial_starts_on")),
                name="enterprise_trial_ends_after_start",
            )
        ]

    def __str__(self) -> str:
        return self.display_name

    @property
    def is_operating(self) -> bool:
        return self.state in OPERATING_ENTERPRISE_STATES


class EnterpriseOwned(models.Model):
    """A row that belongs to one enterprise. `enterprise` is set by services and never changes."""

    scope_fields = {"enterprise": "enterprise_id"}

    enterprise = models.ForeignKey(Enterprise, on_delete=models.PROTECT, related_name="+")

    class Meta:
        abstract = True


class OnboardingState(models.TextChoices):
    EDITING = "editing", "Editing"
    SUBMITTED = "submitted", "Submitted"
    AUDITING = "auditing", "Auditing"
    REJECTED = "rejected", "Rejected"
    APPROVED = "approved", "Approved"
    SIGNING = "signing", "Signing"
    FINISHED = "finished", "Finished"
    CANCELED = "canceled", "Canceled"


class MerchantCategory(models.TextChoices):
    RETAIL = "retail", "Retail"
    CATERING = "catering", "Catering"
    SUPERMARKET = "supermarket", "Supermarket"
    PHARMACY = "pharmacy", "Pharmacy"
    SERVICES = "services", "Services"
    OTHER = "other", "Other"


class Merchant(EnterpriseOwned):
    """A payment sub-merchant. Its onboarding state mirrors the provider's application."""

    scope_fields = {"enterprise": "enterprise_id", "merchant": "id"}

    enterprise = models.ForeignKey(Enterprise, on_delete=models.PROTECT, related_name="merchants")
    name = models.CharField(max_length=128)
    category = models.CharField(
        max_length=20, choices=MerchantCategory.choices, default=MerchantCategory.RETAIL
    )
    fee_rate_bps = models.PositiveIntegerField(
        "fee rate (basis points)", default=60, editable=False
    )
    contact_phone = models.CharField(max_length=30, blank=True)
    settlement_bank_name = models.CharField(max_length=100, blank=True)
    settlement_account_name = models.CharField(max_length=100, blank=True)
    settlement_account_number = EncryptedTextField(blank=True, default="")
    legal_rep_name = models.CharField(max_length=50, blank=True)
    legal_rep_id_number = EncryptedTextField(blank=True, default="")
    onboarding_state = models.CharField(
        max_length=20,
        choices=OnboardingState.choices,
        default=OnboardingState.EDITING,
        editable=False,
        db_index=True,
    )
    # Field-level reasons from the last rejection or change request: [{"field", "reason"}].
    audit_detail = models.JSONField(default=list, blank=True, editable=False)
    # Increases with every submission: the provider's business_code names one application.
    application_no = models.PositiveIntegerField(default=0, editable=False)
    # NULL until the provider issues it; unique once set.
    sub_mch_id = models.CharField(max_length=32, null=True, blank=True, editable=False)  # noqa: DJ001
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["id", "enterprise"], name="merchant_id_enterprise"),
            models.UniqueConstraint(
                fields=["sub_mch_id"],
                condition=Q(sub_mch_id__isnull=False),
                name="merchant_sub_mch_id_unique",
            ),
            models.CheckConstraint(
                condition=~Q(onboarding_state="finished") | Q(sub_mch_id__isnull=False),
                name="merchant_finished_has_sub_mch_id",
            ),
            models.CheckConstraint(
                condition=Q(fee_rate_bps__lte=10000), name="merchant_fee_rate_at_most_100pct"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def business_code(self) -> str:
        """The provider application id for the current application (stable across retries)."""
        return f"SY{self.enterprise_id}M{self.pk}A{self.application_no}"

    @property
    def settlement_account_masked(self) -> str:
        return mask(self.settlement_account_number)

    @property
    def legal_rep_id_masked(self) -> str:
        return mask(self.legal_rep_id_number)

    @property
    def can_take_payments(self) -> bool:
        """Derived, never stored: onboarding finished and the enterprise operating."""
        return (
            self.onboarding_state == OnboardingState.FINISHED
            and bool(self.sub_mch_id)
            and self.enterprise.state in OPERATING_ENTERPRISE_STATES
        )


class StoreStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Temporarily closed"
    ARCHIVED = "archived", "Archived"


def default_business_hours() -> dict:
    return {"mon-sun": "09:00-21:00"}


class Store(EnterpriseOwned):
    scope_fields = {"enterprise": "enterprise_id", "merchant": "merchant_id", "store": "id"}

    enterprise = models.ForeignKey(Enterprise, on_delete=models.PROTECT, related_name="stores")
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, related_name="stores")
    name = models.CharField(max_length=128)
    address = models.CharField(max_length=300, blank=True)
    city = models.CharField(max_length=64)
    latitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6, null=True, blank=True)
    timezone = models.CharField(max_length=64, default="Asia/Shanghai")
    business_hours = models.JSONField(default=default_business_hours, blank=True)
    status = models.CharField(max_length=20, choices=StoreStatus.choices, default=StoreStatus.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["id", "enterprise"], name="store_id_enterprise"),
            models.CheckConstraint(
                condition=Q(latitude__isnull=True) | Q(latitude__gte=-90, latitude__lte=90),
                name="store_latitude_range",
            ),
            models.CheckConstraint(
                condition=Q(longitude__isnull=True) | Q(longitude__gte=-180, longitude__lte=180),
                name="store_longitude_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


def role_matches_target(name: str) -> models.CheckConstraint:
    """A grant's target fits its role: enterprise roles name no merchant or store, a merchant
    manager names a merchant, a cashier a store (memberships and invitations alike)."""
    return models.CheckConstraint(
        condition=(
            Q(role__in=["enterprise_admin", "auditor"], merchant__isnull=True)
            & Q(store__isnull=True)
        )
        | Q(role="merchant_manager", merchant__isnull=False, store__isnull=True)
        | Q(role="cashier", store__isnull=False, merchant__isnull=True),
        name=name,
    )


class Membership(EnterpriseOwned):
    """A tenant role held by a user: on an enterprise, a merchant, or a store."""

    scope_fields = {"enterprise": "enterprise_id"}

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=20, choices=TenantRole.choices)
    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, null=True, blank=True, related_name="memberships"
    )
    store = models.ForeignKey(
        Store, on_delete=models.CASCADE, null=True, blank=True, related_name="memberships"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            role_matches_target("membership_role_matches_target"),
            models.UniqueConstraint(
                fields=["user", "role", "enterprise", "merchant", "store"],
                nulls_distinct=False,
                name="membership_unique_grant",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} as {self.get_role_display()}"


def _invitation_expiry():
    return timezone.now() + timezone.timedelta(days=7)


class Invitation(EnterpriseOwned):
    """A one-time, expiring invitation to take a role. Only the token's hash is stored."""

    scope_fields = {"enterprise": "enterprise_id"}

    email = models.EmailField()
    role = models.CharField(max_length=20, choices=TenantRole.choices)
    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    store = models.ForeignKey(
        Store, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    expires_at = models.DateTimeField(default=_invitation_expiry)
    accepted_at = models.DateTimeField(null=True, blank=True, editable=False)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            role_matches_target("invitation_role_matches_target"),
        ]

    def __str__(self) -> str:
        return f"{self.email} as {self.get_role_display()}"

    @property
    def status(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


class ApiKey(EnterpriseOwned):
    """A merchant system's credential. The secret is shown once; only its SHA-256 is stored."""

    scope_fields = {"enterprise": "enterprise_id", "merchant": "merchant_id"}

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_usable(self) -> bool:
        if self.revoked_at:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()


class DocumentKind(models.TextChoices):
    BUSINESS_LICENCE = "business_licence", "Business licence"
    LEGAL_REP_ID_FRONT = "legal_rep_id_front", "Legal representative ID (front)"
    LEGAL_REP_ID_BACK = "legal_rep_id_back", "Legal representative ID (back)"
    BANK_ACCOUNT_PERMIT = "bank_account_permit", "Bank account permit"
    STORE_PHOTO = "store_photo", "Store photo"
    OTHER = "other", "Other"


def document_upload_to(instance: "MerchantDocument", filename: str) -> str:
    # The stored name is generated; the client's file name never reaches the file system.
    return f"merchant-documents/{instance.enterprise_id}/{instance.merchant_id}/{filename}"


class MerchantDocument(EnterpriseOwned):
    """A KYC document. Stored with Django's storage API; served only through the scoped API."""

    scope_fields = {"enterprise": "enterprise_id", "merchant": "merchant_id"}
    hidden_from_api_keys = True  # KYC material: people only, never merchant systems

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(max_length=30, choices=DocumentKind.choices)
    file = models.FileField(upload_to=document_upload_to, max_length=200, editable=False)
    content_type = models.CharField(max_length=50, editable=False)
    size = models.PositiveIntegerField(editable=False)
    sha256 = models.CharField(max_length=64, editable=False)
    original_name = models.CharField(max_length=120, blank=True, editable=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.merchant_id}"


class ActorKind(models.TextChoices):
    USER = "user", "User"
    API_KEY = "api_key", "API key"
    TERMINAL = "terminal", "Terminal"
    SYSTEM = "system", "System"


class AuditEntry(models.Model):
    """One append-only audit row. UPDATE and DELETE are refused by a database trigger.

    `enterprise` is null for platform-level events (ops staff changes); tenant rows carry it.
    Targets are recorded by type and id, never by a generic foreign key into tenant tables.
    """

    scope_fields = {"enterprise": "enterprise_id"}

    id = models.BigAutoField(primary_key=True)
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    enterprise = models.ForeignKey(
        Enterprise, on_delete=models.DO_NOTHING, null=True, blank=True, related_name="+",
        db_constraint=False,
    )  # fmt: skip
    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, null=True, blank=True,
        related_name="+", db_constraint=False,
    )  # fmt: skip
    actor_api_key_id = models.BigIntegerField(null=True, blank=True)
    actor_terminal_id = models.BigIntegerField(null=True, blank=True)
    actor_label = models.CharField(max_length=150)
    action = models.CharField(max_length=80, db_index=True)
    target_type = models.CharField(max_length=80, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_target")]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_label}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise RuntimeError("Audit entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RuntimeError("Audit entries are append-only.")
