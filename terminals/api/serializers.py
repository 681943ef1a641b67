"""Request and response shapes of the terminals API."""

from django.conf import settings
from rest_framework import serializers

from terminals.models import (
    Presence,
    RegistrationBatch,
    Terminal,
    TerminalCommand,
    TerminalEvent,
    TerminalState,
)
from terminals.protocol import COMMAND_KINDS


class PresenceOut(serializers.Serializer):
    state = serializers.ChoiceField(choices=Presence.choices, source="presence")
    reason = serializers.CharField(source="presence_reason")
    changed_at = serializers.DateTimeField(source="presence_changed_at")
    last_seen_at = serializers.DateTimeField()
    connected_at = serializers.DateTimeField()
    disconnected_at = serializers.DateTimeField()
    node = serializers.CharField()
    heartbeat_interval = serializers.IntegerField()
    heartbeat_grace = serializers.SerializerMethodField()
    next_change_at = serializers.DateTimeField(source="presence_due_at")

    def get_heartbeat_grace(self, terminal) -> int:
        return settings.TERMINAL_HEARTBEAT_GRACE


class TerminalOut(serializers.ModelSerializer):
    hardware_model = serializers.CharField(source="hardware_model.code")
    presence = PresenceOut(source="*")
    has_credentials = serializers.BooleanField()

    class Meta:
        model = Terminal
        fields = [
            "id",
            "serial",
            "bluetooth_name",
            "hardware_model",
            "hardware_revision",
            "manufactured_on",
            "state",
            "enterprise",
            "merchant",
            "store",
            "label",
            "presence",
            "firmware_version",
            "link",
            "host_os",
            "screens",
            "activated_at",
            "has_credentials",
            "created_at",
            "updated_at",
        ]


class AssignedOut(serializers.Serializer):
    terminal = TerminalOut()
    activation_code = serializers.CharField(help_text="Shown once: type it into the device.")
    activation_code_expires_at = serializers.DateTimeField()


class StoreIn(serializers.Serializer):
    store = serializers.IntegerField(min_value=1)
    reason = serializers.CharField(max_length=200, required=False, default="")


class ReasonIn(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, default="")


class AllocateIn(serializers.Serializer):
    terminals = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=1000
    )
    enterprise = serializers.IntegerField(min_value=1)


BULK_ACTIONS = (
    "suspend",
    "resume",
    "unassign",
    "retire",
    "report_lost",
    "revoke_credentials",
    "deallocate",
)


class BulkIn(serializers.Serializer):
    action = serializers.ChoiceField(choices=BULK_ACTIONS)
    terminals = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, max_length=1000
    )
    reason = serializers.CharField(max_length=200, required=False, default="")


class BulkResultOut(serializers.Serializer):
    terminal = serializers.IntegerField()
    ok = serializers.BooleanField()
    state = serializers.CharField(required=False)
    error = serializers.DictField(required=False)


class CommandIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[k for k in COMMAND_KINDS if k != "rotate_secret"])
    payload = serializers.DictField(required=False, default=dict)
    ttl_seconds = serializers.IntegerField(min_value=1, max_value=30 * 86400, required=False)


class CommandOut(serializers.ModelSerializer):
    class Meta:
        model = TerminalCommand
        fields = [
            "id",
            "terminal",
            "kind",
            "payload",
            "state",
            "requested_by",
            "created_at",
            "expires_at",
            "sent_at",
            "attempts",
            "acked_at",
            "result",
            "error",
        ]


class EventOut(serializers.ModelSerializer):
    class Meta:
        model = TerminalEvent
        fields = ["id", "kind", "at", "data", "actor"]


class SummaryOut(serializers.Serializer):
    total = serializers.IntegerField()
    by_state = serializers.DictField(child=serializers.IntegerField())
    by_presence = serializers.DictField(child=serializers.IntegerField())
    by_firmware = serializers.DictField(child=serializers.IntegerField())


class BatchIn(serializers.Serializer):
    file = serializers.FileField(required=False)
    filename = serializers.CharField(max_length=200, required=False, default="")
    content = serializers.CharField(required=False, trim_whitespace=False)

    def validate(self, attrs):
        upload = attrs.pop("file", None)
        if upload is not None:
            try:
                attrs["content"] = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise serializers.ValidationError(
                    {"file": ["The file must be UTF-8 CSV."]}
                ) from None
            attrs["filename"] = attrs["filename"] or upload.name
        if not attrs.get("content"):
            raise serializers.ValidationError({"file": ["Upload a CSV file or send content."]})
        return attrs


class BatchOut(serializers.ModelSerializer):
    class Meta:
        model = RegistrationBatch
        fields = [
            "id",
            "filename",
            "state",
            "total_rows",
            "processed_rows",
            "errors",
            "created_by",
            "created_at",
            "finished_at",
        ]


class ActivationIn(serializers.Serializer):
    serial = serializers.CharField(max_length=20)
    code = serializers.CharField(max_length=20)


class ActivationOut(serializers.Serializer):
    terminal_id = serializers.IntegerField()
    serial = serializers.CharField()
    secret = serializers.CharField(help_text="The device secret: returned once, never again.")
    websocket_path = serializers.CharField()
    heartbeat_interval = serializers.IntegerField()
    protocol_version = serializers.IntegerField()


STATE_CHOICES = TerminalState.choices
