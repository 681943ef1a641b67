"""The terminal fleet: hardware models, terminals, assignments, activation codes, commands, events.

Lifecycle and ownership fields are `editable=False`: only terminals.services change them, through
terminals.statemachine. Live presence is in Redis (terminals.presence); the presence columns here
are its batched copy, written by the presence flush task.
"""

import uuid

from django.db import models
from django.db.models import Q

SERIAL_PATTERN = r"^WST01-[0-9A-Z]{4,12}$"


class HardwareModel(models.Model):
    code = models.CharField(max_length=16, unique=True)
    name = models.CharField(max_length=100)
    dual_screen = models.BooleanField(default=True)
    scanner = models.BooleanField(default=True)
    links = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class TerminalState(models.TextChoices):
    IN_STOCK = "in_stock", "In stock"
    ALLOCATED = "allocated", "Allocated to an enterprise"
    ASSIGNED = "assigned", "Assigned to a store"
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    RETIRED = "retired", "Retired"
    LOST = "lost", "Lost"


class Presence(models.TextChoices):
    ONLINE = "online", "Online"
    OVERDUE = "overdue", "Connected, heartbeat overdue"
    RECENTLY_SEEN = "recently_seen", "Recently seen"
    OFFLINE = "offline", "Offline"


class RegistrationBatch(models.Model):
    """One uploaded production batch (CSV); imported all-or-nothing by the import task."""

    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        IMPORTED = "imported"
        REJECTED = "rejected"

    filename = models.CharField(max_length=200, blank=True)
    content = models.TextField(editable=False)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    created_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"batch {self.pk} ({self.state})"


class Terminal(models.Model):
    scope_fields = {"enterprise": "enterprise_id", "merchant": "merchant_id", "store": "store_id"}

    serial = models.CharField(max_length=20, unique=True)
    bluetooth_name = models.CharField(max_length=20, editable=False)
    hardware_model = models.ForeignKey(HardwareModel, on_delete=models.PROTECT)
    hardware_revision = models.CharField(max_length=16, blank=True)
    manufactured_on = models.DateField(null=True, blank=True)
    batch = models.ForeignKey(
        RegistrationBatch, null=True, blank=True, on_delete=models.SET_NULL, editable=False
    )
    state = models.CharField(
        max_length=12,
        choices=TerminalState.choices,
        default=TerminalState.IN_STOCK,
        editable=False,
        db_index=True,
    )
    enterprise = models.ForeignKey(
        "tenancy.Enterprise",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="terminals",
        editable=False,
    )
    merchant = models.ForeignKey(
        "tenancy.Merchant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="terminals",
        editable=False,
    )
    store = models.ForeignKey(
        "tenancy.Store",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="terminals",
        editable=False,
    )
    label = models.CharField(max_length=100, blank=True)
    # Credentials: the SCRAM StoredKey of the device secret (terminals.credentials), never the secret.
    stored_key = models.CharField(max_length=64, blank=True, editable=False)
    previous_stored_key = models.CharField(max_length=64, blank=True, editable=False)
    previous_key_valid_until = models.DateTimeField(null=True, blank=True, editable=False)
    credentials_issued_at = models.DateTimeField(null=True, blank=True, editable=False)
    credentials_revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    activated_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Batched copy of the live presence in Redis.
    presence = models.CharField(
        max_length=16, choices=Presence.choices, default=Presence.OFFLINE, editable=False
    )
    presence_reason = models.CharField(max_length=200, default="never seen", editable=False)
    presence_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    presence_due_at = models.DateTimeField(null=True, blank=True, editable=False, db_index=True)
    last_seen_at = models.DateTimeField(null=True, blank=True, editable=False)
    connected_at = models.DateTimeField(null=True, blank=True, editable=False)
    disconnected_at = models.DateTimeField(null=True, blank=True, editable=False)
    node = models.CharField(max_length=100, blank=True, editable=False)
    firmware_version = models.CharField(max_length=32, blank=True, editable=False, db_index=True)
    link = models.CharField(max_length=12, blank=True, editable=False)
    host_os = models.CharField(max_length=12, blank=True, editable=False)
    screens = models.JSONField(default=dict, blank=True, editable=False)
    heartbeat_interval = models.PositiveIntegerField(default=30, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["serial"]
        indexes = [
            models.Index(fields=["enterprise", "state"]),
            models.Index(fields=["store"]),
            models.Index(fields=["merchant"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(serial__regex=SERIAL_PATTERN), name="terminal_serial"
            ),
            models.CheckConstraint(
                condition=Q(state="in_stock", enterprise__isnull=True)
                | Q(state__in=["retired", "lost"])
                | (~Q(state__in=["in_stock", "retired", "lost"]) & Q(enterprise__isnull=False)),
                name="terminal_enterprise_matches_state",
            ),
            models.CheckConstraint(
                condition=~Q(state__in=["assigned", "active", "suspended"])
                | Q(store__isnull=False),
                name="terminal_assigned_has_store",
            ),
        ]

    def __str__(self) -> str:
        return self.serial

    @staticmethod
    def bluetooth_name_for(serial: str) -> str:
        """The name a B1s advertises: the model code and the last four characters of the unit."""
        return f"WST01-{serial[-4:]}"

    @property
    def has_credentials(self) -> bool:
        return bool(self.stored_key) and self.credentials_revoked_at is None


class TerminalAssignment(models.Model):
    """One stretch of a terminal at a store: kept when it is unassigned or moved."""

    terminal = models.ForeignKey(Terminal, on_delete=models.CASCADE, related_name="assignments")
    enterprise = models.ForeignKey("tenancy.Enterprise", on_delete=models.PROTECT, related_name="+")
    merchant = models.ForeignKey("tenancy.Merchant", on_delete=models.PROTECT, related_name="+")
    store = models.ForeignKey("tenancy.Store", on_delete=models.PROTECT, related_name="+")
    assigned_at = models.DateTimeField()
    assigned_by = models.CharField(max_length=200, blank=True)
    unassigned_at = models.DateTimeField(null=True, blank=True)
    unassigned_by = models.CharField(max_length=200, blank=True)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-assigned_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["terminal"],
                condition=Q(unassigned_at__isnull=True),
                name="one_open_assignment_per_terminal",
            )
        ]

    def __str__(self) -> str:
        return f"{self.terminal_id} at store {self.store_id}"


class ActivationCode(models.Model):
    terminal = models.ForeignKey(
        Terminal, on_delete=models.CASCADE, related_name="activation_codes"
    )
    enterprise = models.ForeignKey("tenancy.Enterprise", on_delete=models.PROTECT, related_name="+")
    code_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    failed_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"activation code for {self.terminal_id}"


class CommandState(models.TextChoices):
    QUEUED = "queued"
    SENT = "sent"
    ACKED = "acked"
    FAILED = "failed"
    EXPIRED = "expired"


class TerminalCommand(models.Model):
    """A platform → device command; delivered at least once until acked, failed or expired."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    terminal = models.ForeignKey(Terminal, on_delete=models.CASCADE, related_name="commands")
    enterprise = models.ForeignKey(
        "tenancy.Enterprise", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(max_length=20)
    payload = models.JSONField(default=dict)
    state = models.CharField(
        max_length=8, choices=CommandState.choices, default=CommandState.QUEUED
    )
    requested_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    acked_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["terminal", "created_at"],
                condition=Q(state__in=["queued", "sent"]),
                name="terminal_command_pending",
            ),
            models.Index(fields=["terminal", "-created_at"], name="terminal_command_history"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id}"


class TerminalEvent(models.Model):
    """The terminal's timeline: lifecycle moves, connects, disconnects, hello changes, errors."""

    terminal = models.ForeignKey(Terminal, on_delete=models.CASCADE, related_name="events")
    enterprise = models.ForeignKey(
        "tenancy.Enterprise", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=32)
    at = models.DateTimeField(db_index=True)
    data = models.JSONField(default=dict, blank=True)
    actor = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["terminal", "-at"], name="terminal_event_timeline")]

    def __str__(self) -> str:
        return f"{self.kind} at {self.at}"
