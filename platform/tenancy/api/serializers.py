"""Request and response shapes. Inputs refuse unknown fields, so ownership and state fields
(`enterprise`, `fee_rate_bps`, `state`, `onboarding_state`, `sub_mch_id`) can never be
mass-assigned: they are not in any input serializer, and sending them is a 400."""

from rest_framework import serializers

from tenancy.lifecycles import enterprise_machine, merchant_machine
from tenancy.models import (
    ApiKey,
    AuditEntry,
    DocumentKind,
    Enterprise,
    Invitation,
    Membership,
    Merchant,
    MerchantDocument,
    Store,
    TenantRole,
)
from tenancy.scoping import ScopedPrimaryKeyRelatedField
from tenancy.validators import validate_credit_code


class StrictSerializer(serializers.Serializer):
    """A serializer that answers 400 for fields it does not know instead of ignoring them."""

    def to_internal_value(self, data):
        if hasattr(data, "keys"):
            unknown = sorted(set(data.keys()) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown or read-only field."] for name in unknown}
                )
        return super().to_internal_value(data)


class ReasonSerializer(StrictSerializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


# --- Enterprises -------------------------------------------------------------------------------


class EnterpriseOut(serializers.ModelSerializer):
    allowed_actions = serializers.SerializerMethodField()

    class Meta:
        model = Enterprise
        fields = [
            "id", "legal_name", "display_name", "credit_code", "contact_name", "contact_email",
            "contact_phone", "address", "state", "allowed_actions", "review_reasons",
            "trial_starts_on", "trial_ends_on", "terminal_quota", "created_at", "updated_at",
        ]  # fmt: skip

    def get_allowed_actions(self, obj) -> list[str]:
        return enterprise_machine.allowed_actions(obj.state)


class EnterpriseInviteIn(StrictSerializer):
    legal_name = serializers.CharField(max_length=200)
    display_name = serializers.CharField(max_length=100)
    admin_email = serializers.EmailField()
    contact_name = serializers.CharField(max_length=100, required=False, default="")
    contact_phone = serializers.CharField(max_length=30, required=False, default="")


class EnterpriseUpdateIn(StrictSerializer):
    legal_name = serializers.CharField(max_length=200, required=False)
    display_name = serializers.CharField(max_length=100, required=False)
    credit_code = serializers.CharField(
        max_length=18, required=False, allow_blank=True, validators=[validate_credit_code]
    )
    contact_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    contact_email = serializers.EmailField(required=False, allow_blank=True)
    contact_phone = serializers.CharField(max_length=30, required=False, allow_blank=True)
    address = serializers.CharField(max_length=300, required=False, allow_blank=True)


class EnterpriseApproveIn(StrictSerializer):
    trial_starts_on = serializers.DateField()
    trial_ends_on = serializers.DateField()
    terminal_quota = serializers.IntegerField(min_value=1, max_value=100000)
    reason = serializers.CharField(max_length=500, required=False, default="")


class EnterpriseRejectIn(StrictSerializer):
    reasons = serializers.ListField(
        child=serializers.CharField(max_length=500), min_length=1, max_length=20
    )


class EnterpriseSuspendIn(StrictSerializer):
    reason = serializers.CharField(max_length=500)


class EnterpriseReinstateIn(StrictSerializer):
    trial_ends_on = serializers.DateField(required=False, allow_null=True, default=None)
    reason = serializers.CharField(max_length=500, required=False, default="")


# --- Merchants ---------------------------------------------------------------------------------


class MerchantOut(serializers.ModelSerializer):
    settlement_account_number = serializers.CharField(source="settlement_account_masked")
    legal_rep_id_number = serializers.CharField(source="legal_rep_id_masked")
    can_take_payments = serializers.BooleanField()
    business_code = serializers.CharField()
    allowed_actions = serializers.SerializerMethodField()

    class Meta:
        model = Merchant
        fields = [
            "id", "enterprise", "name", "category", "fee_rate_bps", "contact_phone",
            "settlement_bank_name", "settlement_account_name", "settlement_account_number",
            "legal_rep_name", "legal_rep_id_number", "onboarding_state", "allowed_actions",
            "audit_detail", "business_code", "sub_mch_id", "can_take_payments", "created_at",
            "updated_at",
        ]  # fmt: skip

    def get_allowed_actions(self, obj) -> list[str]:
        return merchant_machine.allowed_actions(obj.onboarding_state)


class MerchantIn(StrictSerializer):
    name = serializers.CharField(max_length=128)
    category = serializers.ChoiceField(choices=Merchant._meta.get_field("category").choices)
    contact_phone = serializers.CharField(max_length=30, required=False, allow_blank=True)
    settlement_bank_name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    settlement_account_name = serializers.CharField(
        max_length=100, required=False, allow_blank=True
    )
    settlement_account_number = serializers.RegexField(
        r"^\d{8,32}$", required=False, allow_blank=True, max_length=32
    )
    legal_rep_name = serializers.CharField(max_length=50, required=False, allow_blank=True)
    legal_rep_id_number = serializers.RegexField(
        r"^\d{17}[\dX]$", required=False, allow_blank=True, max_length=18
    )


class MerchantCreateIn(MerchantIn):
    # Needed only by ops admins and people administering several enterprises.
    enterprise = ScopedPrimaryKeyRelatedField(Enterprise, required=False)


class FieldReasonSerializer(StrictSerializer):
    field = serializers.CharField(max_length=50)
    reason = serializers.CharField(max_length=500)


class MerchantReasonsIn(StrictSerializer):
    reasons = FieldReasonSerializer(many=True)


class MerchantFinishIn(StrictSerializer):
    sub_mch_id = serializers.CharField(max_length=32)


class MerchantFeeRateIn(StrictSerializer):
    fee_rate_bps = serializers.IntegerField(min_value=0, max_value=10000)


# --- Stores ------------------------------------------------------------------------------------


class StoreOut(serializers.ModelSerializer):
    class Meta:
        model = Store
        fields = [
            "id", "enterprise", "merchant", "name", "address", "city", "latitude", "longitude",
            "timezone", "business_hours", "status", "created_at", "updated_at",
        ]  # fmt: skip


class StoreIn(StrictSerializer):
    name = serializers.CharField(max_length=128)
    address = serializers.CharField(max_length=300, required=False, allow_blank=True)
    city = serializers.CharField(max_length=64)
    latitude = serializers.DecimalField(
        max_digits=9, decimal_places=6, min_value=-90, max_value=90, required=False
    )
    longitude = serializers.DecimalField(
        max_digits=9, decimal_places=6, min_value=-180, max_value=180, required=False
    )
    timezone = serializers.ChoiceField(
        choices=["Asia/Shanghai", "Asia/Urumqi", "Asia/Hong_Kong"], required=False
    )
    business_hours = serializers.DictField(
        child=serializers.CharField(max_length=50), required=False
    )
    status = serializers.ChoiceField(
        choices=Store._meta.get_field("status").choices, required=False
    )


class StoreCreateIn(StoreIn):
    merchant = ScopedPrimaryKeyRelatedField(Merchant)


# --- Documents, people, keys, audit ----------------------------------------------------------


class DocumentOut(serializers.ModelSerializer):
    class Meta:
        model = MerchantDocument
        fields = [
            "id", "merchant", "kind", "content_type", "size", "sha256", "original_name",
            "created_at",
        ]  # fmt: skip


class DocumentIn(StrictSerializer):
    merchant = ScopedPrimaryKeyRelatedField(Merchant)
    kind = serializers.ChoiceField(choices=DocumentKind.choices)
    file = serializers.FileField(allow_empty_file=False, use_url=False)


class UserOut(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.EmailField()


class MembershipOut(serializers.ModelSerializer):
    user = UserOut()

    class Meta:
        model = Membership
        fields = ["id", "user", "role", "enterprise", "merchant", "store", "created_at"]


class InvitationOut(serializers.ModelSerializer):
    status = serializers.CharField()

    class Meta:
        model = Invitation
        fields = [
            "id", "email", "role", "enterprise", "merchant", "store", "status", "expires_at",
            "created_at",
        ]  # fmt: skip


class InvitationIn(StrictSerializer):
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=TenantRole.choices)
    enterprise = ScopedPrimaryKeyRelatedField(Enterprise, required=False)
    merchant = ScopedPrimaryKeyRelatedField(Merchant, required=False)
    store = ScopedPrimaryKeyRelatedField(Store, required=False)


class InvitationAcceptIn(StrictSerializer):
    token = serializers.CharField(max_length=100)
    username = serializers.CharField(max_length=150, required=False, default="")
    password = serializers.CharField(
        max_length=128, required=False, default="", style={"input_type": "password"}
    )


class ApiKeyOut(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = [
            "id", "merchant", "name", "prefix", "expires_at", "revoked_at", "last_used_at",
            "created_at",
        ]  # fmt: skip


class ApiKeyCreatedOut(ApiKeyOut):
    key = serializers.CharField(help_text="The full key. Shown once; store it now.")

    class Meta(ApiKeyOut.Meta):
        fields = [*ApiKeyOut.Meta.fields, "key"]


class ApiKeyIn(StrictSerializer):
    merchant = ScopedPrimaryKeyRelatedField(Merchant)
    name = serializers.CharField(max_length=100)
    expires_at = serializers.DateTimeField(required=False, allow_null=True, default=None)


class AuditEntryOut(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = [
            "id", "uuid", "created_at", "enterprise", "actor_kind", "actor_user",
            "actor_api_key_id", "actor_terminal_id", "actor_label", "action", "target_type",
            "target_id", "changes", "reason", "request_id", "metadata",
        ]  # fmt: skip


class LoginIn(StrictSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=128, style={"input_type": "password"})


class PasswordResetIn(StrictSerializer):
    email = serializers.EmailField()


class PasswordResetConfirmIn(StrictSerializer):
    uid = serializers.CharField(max_length=50)
    token = serializers.CharField(max_length=100)
    new_password = serializers.CharField(max_length=128, style={"input_type": "password"})
