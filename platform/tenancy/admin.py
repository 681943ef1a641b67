"""Django admin for ops: read-only pages, with every change made by an action calling a service.

No form save changes a row here: change, add and delete permissions are off, so state and
ownership change only through the same services the API calls (audited, permission-checked,
409 on an illegal transition, shown as an error message). Querysets go through tenancy.scoping,
and secrets are shown masked.
"""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from rest_framework.exceptions import ValidationError

from config.api_errors import ApiError
from tenancy.audit import audit_record
from tenancy.models import (
    ApiKey,
    AuditEntry,
    Enterprise,
    Invitation,
    Membership,
    Merchant,
    MerchantDocument,
    StaffProfile,
    Store,
)
from tenancy.principals import principal_from_request
from tenancy.scoping import scope
from tenancy.services import api_keys, enterprises, merchants, people


class OpsReadOnlyAdmin(admin.ModelAdmin):
    """Visible to ops staff, through the scoping layer; never editable by form."""

    def get_queryset(self, request):
        return scope(principal_from_request(request), super().get_queryset(request))

    def has_module_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        principal = principal_from_request(request)
        return principal is not None and principal.is_ops

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def run_service(modeladmin, request, queryset, call, done: str) -> None:
    """Call a service for each selected row; report each refusal instead of failing the page."""
    principal = principal_from_request(request)
    succeeded = 0
    for obj in queryset:
        try:
            call(principal, obj)
        except ApiError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
        except ValidationError as exc:
            modeladmin.message_user(request, f"{obj}: {exc.detail}", messages.ERROR)
        except PermissionDenied as exc:
            modeladmin.message_user(request, f"{obj}: {exc}", messages.ERROR)
        else:
            succeeded += 1
    if succeeded:
        modeladmin.message_user(request, f"{done}: {succeeded}.", messages.SUCCESS)


def service_action(description: str, call, done: str):
    def action(modeladmin, request, queryset):
        run_service(modeladmin, request, queryset, call, done)

    action.short_description = description
    action.__name__ = done.lower().replace(" ", "_")
    return action


def form_action(description: str, form_class, call, done: str):
    """An action with an intermediate page asking for the service's parameters."""

    def action(modeladmin, request, queryset):
        form = form_class(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            data = form.cleaned_data
            run_service(modeladmin, request, queryset, lambda p, o: call(p, o, data), done)
            return None
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": description,
            "form": form,
            "queryset": queryset,
            "action": action.__name__,
            "opts": modeladmin.model._meta,
        }
        return TemplateResponse(request, "tenancy/admin/action_form.html", context)

    action.short_description = description
    action.__name__ = done.lower().replace(" ", "_")
    return action


class TrialTermsForm(forms.Form):
    trial_starts_on = forms.DateField(help_text="YYYY-MM-DD")
    trial_ends_on = forms.DateField(help_text="YYYY-MM-DD")
    terminal_quota = forms.IntegerField(min_value=1)
    reason = forms.CharField(required=False)


class ReasonsForm(forms.Form):
    reasons = forms.CharField(widget=forms.Textarea, help_text="One reason per line.")


class ReasonForm(forms.Form):
    reason = forms.CharField()


class FieldReasonsForm(forms.Form):
    reasons = forms.CharField(
        widget=forms.Textarea, help_text='One per line: "field: reason", e.g. "name: blurred".'
    )

    def clean_reasons(self) -> list[dict]:
        items = []
        for line in self.cleaned_data["reasons"].splitlines():
            field, _, reason = line.partition(":")
            if line.strip():
                items.append({"field": field.strip(), "reason": reason.strip()})
        return items


class SubMchIdForm(forms.Form):
    sub_mch_id = forms.CharField(max_length=32)


class FeeRateForm(forms.Form):
    fee_rate_bps = forms.IntegerField(min_value=0, max_value=10000)


def _reasons(data) -> list[str]:
    return [line.strip() for line in data["reasons"].splitlines() if line.strip()]


class EnterpriseInviteForm(forms.ModelForm):
    admin_email = forms.EmailField(help_text="The first enterprise admin; gets the invitation.")

    class Meta:
        model = Enterprise
        fields = ["legal_name", "display_name", "contact_name", "contact_phone"]


@admin.register(Enterprise)
class EnterpriseAdmin(OpsReadOnlyAdmin):
    """Adding an enterprise here invites it (enterprise_invite); nothing else is saved by form."""

    list_display = ["display_name", "legal_name", "state", "trial_ends_on", "terminal_quota"]
    list_filter = ["state"]
    search_fields = ["legal_name", "display_name", "credit_code"]

    def has_add_permission(self, request, obj=None) -> bool:
        principal = principal_from_request(request)
        return principal is not None and principal.is_ops_admin

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = EnterpriseInviteForm
            kwargs["fields"] = [*EnterpriseInviteForm.Meta.fields, "admin_email"]
        return super().get_form(request, obj, change=change, **kwargs)

    def save_model(self, request, obj, form, change):
        if change:
            raise PermissionDenied("Enterprises change through their lifecycle actions.")
        data = {name: form.cleaned_data[name] for name in form.fields}
        enterprise, _ = enterprises.enterprise_invite(actor=principal_from_request(request), **data)
        obj.pk = enterprise.pk
        obj._state.adding = False

    actions = [
        form_action(
            "Approve into a trial",
            TrialTermsForm,
            lambda p, o, d: enterprises.enterprise_approve(actor=p, enterprise=o, **d),
            "Approved",
        ),
        form_action(
            "Reject the application",
            ReasonsForm,
            lambda p, o, d: enterprises.enterprise_reject(
                actor=p, enterprise=o, reasons=_reasons(d)
            ),
            "Rejected",
        ),
        service_action(
            "Convert trial to active",
            lambda p, o: enterprises.enterprise_convert(actor=p, enterprise=o),
            "Converted",
        ),
        form_action(
            "Suspend",
            ReasonForm,
            lambda p, o, d: enterprises.enterprise_suspend(actor=p, enterprise=o, **d),
            "Suspended",
        ),
        service_action(
            "Reinstate",
            lambda p, o: enterprises.enterprise_reinstate(actor=p, enterprise=o),
            "Reinstated",
        ),
        form_action(
            "Offboard",
            ReasonForm,
            lambda p, o, d: enterprises.enterprise_offboard(actor=p, enterprise=o, **d),
            "Offboarded",
        ),
    ]


@admin.register(Merchant)
class MerchantAdmin(OpsReadOnlyAdmin):
    list_display = ["name", "enterprise", "onboarding_state", "sub_mch_id", "fee_rate_bps"]
    list_filter = ["onboarding_state", "category"]
    search_fields = ["name", "sub_mch_id"]
    list_select_related = ["enterprise"]
    # The encrypted columns are replaced by their masked forms.
    exclude = ["settlement_account_number", "legal_rep_id_number"]
    readonly_fields = ["settlement_account_masked", "legal_rep_id_masked", "can_take_payments"]
    actions = [
        service_action(
            "Start the provider audit",
            lambda p, o: merchants.merchant_start_audit(actor=p, merchant=o),
            "Audit started",
        ),
        form_action(
            "Request changes",
            FieldReasonsForm,
            lambda p, o, d: merchants.merchant_request_changes(actor=p, merchant=o, **d),
            "Changes requested",
        ),
        form_action(
            "Reject",
            FieldReasonsForm,
            lambda p, o, d: merchants.merchant_reject(actor=p, merchant=o, **d),
            "Rejected",
        ),
        service_action(
            "Approve",
            lambda p, o: merchants.merchant_approve(actor=p, merchant=o),
            "Approved",
        ),
        service_action(
            "Start signing",
            lambda p, o: merchants.merchant_start_signing(actor=p, merchant=o),
            "Signing started",
        ),
        form_action(
            "Finish with the provider's sub_mch_id",
            SubMchIdForm,
            lambda p, o, d: merchants.merchant_finish(actor=p, merchant=o, **d),
            "Finished",
        ),
        form_action(
            "Set the fee rate",
            FeeRateForm,
            lambda p, o, d: merchants.merchant_set_fee_rate(actor=p, merchant=o, **d),
            "Fee rate set",
        ),
    ]


@admin.register(Store)
class StoreAdmin(OpsReadOnlyAdmin):
    list_display = ["name", "merchant", "city", "status"]
    list_filter = ["city", "status"]
    search_fields = ["name", "address"]
    list_select_related = ["merchant"]


@admin.register(Membership)
class MembershipAdmin(OpsReadOnlyAdmin):
    list_display = ["user", "role", "enterprise", "merchant", "store"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__email"]


@admin.register(Invitation)
class InvitationAdmin(OpsReadOnlyAdmin):
    list_display = ["email", "role", "enterprise", "status", "expires_at"]
    list_filter = ["role"]
    search_fields = ["email"]
    exclude = ["token_hash"]
    actions = [
        service_action(
            "Revoke",
            lambda p, o: people.invitation_revoke(actor=p, invitation=o),
            "Revoked",
        )
    ]


@admin.register(ApiKey)
class ApiKeyAdmin(OpsReadOnlyAdmin):
    list_display = ["name", "prefix", "merchant", "expires_at", "revoked_at", "last_used_at"]
    search_fields = ["name", "prefix"]
    exclude = ["secret_hash"]
    actions = [
        service_action(
            "Revoke",
            lambda p, o: api_keys.api_key_revoke(actor=p, api_key=o, reason="revoked by ops"),
            "Revoked",
        )
    ]


@admin.register(MerchantDocument)
class MerchantDocumentAdmin(OpsReadOnlyAdmin):
    list_display = ["merchant", "kind", "content_type", "size", "created_at"]
    list_filter = ["kind"]
    # The file is served by the scoped API (documents/<id>/download/), never by a media URL.
    exclude = ["file"]


@admin.register(AuditEntry)
class AuditEntryAdmin(OpsReadOnlyAdmin):
    list_display = ["created_at", "action", "actor_label", "target_type", "target_id"]
    list_filter = ["actor_kind", "action"]
    search_fields = ["action", "actor_label", "target_id", "request_id"]


@admin.register(StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):
    """Ops roles: granted by superusers only (Django's own permissions)."""

    list_display = ["user", "role"]

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission

    def save_model(self, request, obj, form, change):
        before = StaffProfile.objects.filter(pk=obj.pk).values_list("role", flat=True).first()
        super().save_model(request, obj, form, change)
        audit_record(
            actor=principal_from_request(request),
            action="staff.grant",
            target=obj,
            changes={"role": [before, obj.role]},
        )

    def delete_model(self, request, obj):
        audit_record(
            actor=principal_from_request(request),
            action="staff.revoke",
            target=obj,
            changes={"role": [obj.role, None]},
        )
        super().delete_model(request, obj)
