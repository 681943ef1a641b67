"""The tenancy API: thin views that scope, validate, call one service, and serialize.

Every viewset over tenant rows is a ScopedViewSet, so a foreign id is a 404 before any service
runs; services then decide whether a visible row may be changed (403 if not), and lifecycle
actions answer 409 with the allowed actions when the state does not allow them.
"""

import django_filters
from django.contrib.auth import authenticate, login, logout
from django.http import FileResponse
from django.middleware.csrf import get_token
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import mixins, permissions, status
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api_errors import error_body
from tenancy.api import serializers as s
from tenancy.api.throttles import LoginIpThrottle, LoginUsernameThrottle, PasswordResetThrottle
from tenancy.audit import audit_record
from tenancy.models import (
    ApiKey,
    AuditEntry,
    Enterprise,
    Invitation,
    Membership,
    Merchant,
    MerchantDocument,
    Store,
)
from tenancy.principals import Principal
from tenancy.scoping import ScopedViewSet
from tenancy.services import api_keys, documents, enterprises, merchants, people, stores
from tenancy.services.guards import default_enterprise_id

CONFLICT_EXAMPLE = OpenApiExample(
    "Illegal transition",
    status_codes=["409"],
    response_only=True,
    value={
        "error": {
            "code": "illegal_transition",
            "message": "Cannot approve a merchant in state 'editing'.",
            "state": "editing",
            "allowed_actions": ["submit", "cancel"],
            "request_id": "5f0c6b2e9a7d4e1f8c3b2a1d0e9f8a7b",
        }
    },
)
NOT_FOUND = OpenApiResponse(description="Missing, or belongs to another tenant (same body).")


def filterset(model, *, ids=(), fields=()):
    """A FilterSet whose foreign-key filters take plain ids.

    django-filter's default for a foreign key validates the id against every row of the related
    model, so a missing id (400) and another tenant's id (200, empty) would answer differently,
    telling an outsider which ids exist. A plain number filter on the scoped queryset answers
    both with an empty page.
    """
    attrs = {name: django_filters.NumberFilter(field_name=f"{name}_id") for name in ids}
    attrs["Meta"] = type("Meta", (), {"model": model, "fields": list(fields)})
    return type(f"{model.__name__}FilterSet", (django_filters.FilterSet,), attrs)


def validated(serializer_class, request, view) -> dict:
    serializer = serializer_class(data=request.data, context=view.get_serializer_context())
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class TransitionMixin:
    """Run a lifecycle service on the scoped object and answer with its new representation."""

    target_name = ""

    def transition(self, service, input_class=None):
        obj = self.get_object()
        data = validated(input_class, self.request, self) if input_class else {}
        result = service(actor=self.principal, **{self.target_name: obj}, **data)
        return Response(self.get_serializer(result).data)


def transition_schema(input_class=None, output=None, example: dict | None = None):
    examples = [CONFLICT_EXAMPLE]
    if example is not None:
        examples.append(OpenApiExample("Request", value=example, request_only=True))
    return extend_schema(
        request=input_class,
        responses={200: output, 403: None, 404: NOT_FOUND, 409: None},
        examples=examples,
    )


TRIAL_TERMS_EXAMPLE = {
    "trial_starts_on": "2026-12-01",
    "trial_ends_on": "2027-02-28",
    "terminal_quota": 20,
    "reason": "Pilot in 3 Shanghai stores",
}
FIELD_REASONS_EXAMPLE = {
    "reasons": [{"field": "legal_rep_id_number", "reason": "Does not match the ID scan."}]
}


class EnterpriseViewSet(
    TransitionMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet
):
    """Trial enterprises. Ops admins invite them; their admins apply; ops review them."""

    scoped_model = Enterprise
    serializer_class = s.EnterpriseOut
    target_name = "enterprise"
    filterset_fields = ["state"]
    search_fields = ["legal_name", "display_name", "credit_code"]
    ordering_fields = ["id", "display_name", "created_at", "trial_ends_on"]

    @extend_schema(request=s.EnterpriseInviteIn, responses={201: s.EnterpriseOut})
    def create(self, request):
        """Invite an enterprise (ops admins): creates it and emails its first admin."""
        data = validated(s.EnterpriseInviteIn, request, self)
        enterprise, _ = enterprises.enterprise_invite(actor=self.principal, **data)
        return Response(self.get_serializer(enterprise).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.EnterpriseUpdateIn, responses={200: s.EnterpriseOut})
    def partial_update(self, request, pk=None):
        enterprise = self.get_object()
        data = validated(s.EnterpriseUpdateIn, request, self)
        enterprise = enterprises.enterprise_update(
            actor=self.principal, enterprise=enterprise, data=data
        )
        return Response(self.get_serializer(enterprise).data)

    @transition_schema(output=s.EnterpriseOut)
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        return self.transition(enterprises.enterprise_submit)

    @transition_schema(s.EnterpriseApproveIn, s.EnterpriseOut, TRIAL_TERMS_EXAMPLE)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self.transition(enterprises.enterprise_approve, s.EnterpriseApproveIn)

    @transition_schema(
        s.EnterpriseRejectIn, s.EnterpriseOut, {"reasons": ["The business licence has expired."]}
    )
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self.transition(enterprises.enterprise_reject, s.EnterpriseRejectIn)

    @transition_schema(output=s.EnterpriseOut)
    @action(detail=True, methods=["post"])
    def revise(self, request, pk=None):
        return self.transition(enterprises.enterprise_revise)

    @transition_schema(output=s.EnterpriseOut)
    @action(detail=True, methods=["post"])
    def convert(self, request, pk=None):
        return self.transition(enterprises.enterprise_convert)

    @transition_schema(s.EnterpriseSuspendIn, s.EnterpriseOut)
    @action(detail=True, methods=["post"])
    def suspend(self, request, pk=None):
        return self.transition(enterprises.enterprise_suspend, s.EnterpriseSuspendIn)

    @transition_schema(s.EnterpriseReinstateIn, s.EnterpriseOut)
    @action(detail=True, methods=["post"])
    def reinstate(self, request, pk=None):
        return self.transition(enterprises.enterprise_reinstate, s.EnterpriseReinstateIn)

    @transition_schema(s.EnterpriseSuspendIn, s.EnterpriseOut)
    @action(detail=True, methods=["post"])
    def offboard(self, request, pk=None):
        return self.transition(enterprises.enterprise_offboard, s.EnterpriseSuspendIn)


class MerchantViewSet(
    TransitionMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet
):
    """Sub-merchants and their onboarding application."""

    scoped_model = Merchant
    serializer_class = s.MerchantOut
    target_name = "merchant"
    filterset_class = filterset(
        Merchant, ids=["enterprise"], fields=["onboarding_state", "category"]
    )
    search_fields = ["name", "sub_mch_id"]
    ordering_fields = ["id", "name", "created_at", "onboarding_state"]

    def filter_scoped(self, queryset):
        return queryset.select_related("enterprise")

    @extend_schema(request=s.MerchantCreateIn, responses={201: s.MerchantOut})
    def create(self, request):
        data = validated(s.MerchantCreateIn, request, self)
        enterprise_id = default_enterprise_id(self.principal, data.pop("enterprise", None))
        merchant = merchants.merchant_create(
            actor=self.principal, enterprise=Enterprise.objects.get(pk=enterprise_id), data=data
        )
        return Response(self.get_serializer(merchant).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=s.MerchantIn, responses={200: s.MerchantOut}, examples=[CONFLICT_EXAMPLE]
    )
    def partial_update(self, request, pk=None):
        merchant = self.get_object()
        serializer = s.MerchantIn(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        merchant = merchants.merchant_update(
            actor=self.principal, merchant=merchant, data=serializer.validated_data
        )
        return Response(self.get_serializer(merchant).data)

    @transition_schema(output=s.MerchantOut)
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        return self.transition(merchants.merchant_submit)

    @transition_schema(s.MerchantReasonsIn, s.MerchantOut, FIELD_REASONS_EXAMPLE)
    @action(detail=True, methods=["post"], url_path="request-changes")
    def request_changes(self, request, pk=None):
        return self.transition(merchants.merchant_request_changes, s.MerchantReasonsIn)

    @transition_schema(output=s.MerchantOut)
    @action(detail=True, methods=["post"], url_path="start-audit")
    def start_audit(self, request, pk=None):
        return self.transition(merchants.merchant_start_audit)

    @transition_schema(s.MerchantReasonsIn, s.MerchantOut, FIELD_REASONS_EXAMPLE)
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        return self.transition(merchants.merchant_reject, s.MerchantReasonsIn)

    @transition_schema(output=s.MerchantOut)
    @action(detail=True, methods=["post"])
    def revise(self, request, pk=None):
        return self.transition(merchants.merchant_revise)

    @transition_schema(s.ReasonSerializer, s.MerchantOut)
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self.transition(merchants.merchant_approve, s.ReasonSerializer)

    @transition_schema(output=s.MerchantOut)
    @action(detail=True, methods=["post"], url_path="start-signing")
    def start_signing(self, request, pk=None):
        return self.transition(merchants.merchant_start_signing)

    @transition_schema(s.MerchantFinishIn, s.MerchantOut, {"sub_mch_id": "1900000109"})
    @action(detail=True, methods=["post"])
    def finish(self, request, pk=None):
        return self.transition(merchants.merchant_finish, s.MerchantFinishIn)

    @transition_schema(s.ReasonSerializer, s.MerchantOut)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self.transition(merchants.merchant_cancel, s.ReasonSerializer)

    @transition_schema(s.MerchantFeeRateIn, s.MerchantOut)
    @action(detail=True, methods=["post"], url_path="fee-rate")
    def fee_rate(self, request, pk=None):
        return self.transition(merchants.merchant_set_fee_rate, s.MerchantFeeRateIn)


class StoreViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    scoped_model = Store
    serializer_class = s.StoreOut
    filterset_class = filterset(Store, ids=["merchant"], fields=["city", "status"])
    search_fields = ["name", "address", "city"]
    ordering_fields = ["id", "name", "city", "created_at"]

    def filter_scoped(self, queryset):
        return queryset.select_related("merchant")

    @extend_schema(request=s.StoreCreateIn, responses={201: s.StoreOut})
    def create(self, request):
        data = validated(s.StoreCreateIn, request, self)
        merchant = data.pop("merchant")
        store = stores.store_create(actor=self.principal, merchant=merchant, data=data)
        return Response(self.get_serializer(store).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.StoreIn, responses={200: s.StoreOut})
    def partial_update(self, request, pk=None):
        store = self.get_object()
        serializer = s.StoreIn(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        store = stores.store_update(
            actor=self.principal, store=store, data=serializer.validated_data
        )
        return Response(self.get_serializer(store).data)


class DocumentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """KYC documents. Upload as multipart; download only through this API, never a public URL."""

    scoped_model = MerchantDocument
    serializer_class = s.DocumentOut
    parser_classes = [MultiPartParser, JSONParser]
    filterset_class = filterset(MerchantDocument, ids=["merchant"], fields=["kind"])
    ordering_fields = ["id", "created_at"]

    @extend_schema(request={"multipart/form-data": s.DocumentIn}, responses={201: s.DocumentOut})
    def create(self, request):
        data = validated(s.DocumentIn, request, self)
        document = documents.document_upload(
            actor=self.principal, merchant=data["merchant"], kind=data["kind"], upload=data["file"]
        )
        return Response(self.get_serializer(document).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, pk=None):
        documents.document_delete(actor=self.principal, document=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={(200, "application/octet-stream"): bytes, 404: NOT_FOUND})
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        document = self.get_object()
        extension = document.file.name.rsplit(".", 1)[-1]
        return FileResponse(
            document.file.open("rb"),
            content_type=document.content_type,
            as_attachment=True,
            filename=f"{document.kind}-{document.pk}.{extension}",
        )


class MembershipViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Who holds which role. Memberships are created by accepting invitations."""

    scoped_model = Membership
    serializer_class = s.MembershipOut
    filterset_class = filterset(
        Membership, ids=["enterprise", "merchant", "store", "user"], fields=["role"]
    )
    search_fields = ["user__username", "user__email"]
    ordering_fields = ["id", "created_at"]

    def filter_scoped(self, queryset):
        return queryset.select_related("user")

    def destroy(self, request, pk=None):
        people.membership_delete(actor=self.principal, membership=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    scoped_model = Invitation
    serializer_class = s.InvitationOut
    filterset_class = filterset(Invitation, ids=["enterprise"], fields=["role"])
    search_fields = ["email"]
    ordering_fields = ["id", "created_at", "expires_at"]

    @extend_schema(request=s.InvitationIn, responses={201: s.InvitationOut})
    def create(self, request):
        data = validated(s.InvitationIn, request, self)
        parent = data.get("store") or data.get("merchant")
        enterprise_id = (
            parent.enterprise_id
            if parent is not None
            else default_enterprise_id(self.principal, data.get("enterprise"))
        )
        invitation, _ = people.invitation_create(
            actor=self.principal,
            enterprise=Enterprise.objects.get(pk=enterprise_id),
            email=data["email"],
            role=data["role"],
            merchant=data.get("merchant"),
            store=data.get("store"),
        )
        return Response(self.get_serializer(invitation).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: s.InvitationOut})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        invitation = people.invitation_revoke(actor=self.principal, invitation=self.get_object())
        return Response(self.get_serializer(invitation).data)


class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """API keys for merchant systems. The full key is in the create response only."""

    scoped_model = ApiKey
    serializer_class = s.ApiKeyOut
    filterset_class = filterset(ApiKey, ids=["merchant"])
    search_fields = ["name", "prefix"]
    ordering_fields = ["id", "created_at", "last_used_at"]

    @extend_schema(request=s.ApiKeyIn, responses={201: s.ApiKeyCreatedOut})
    def create(self, request):
        data = validated(s.ApiKeyIn, request, self)
        key, raw = api_keys.api_key_create(actor=self.principal, **data)
        body = s.ApiKeyOut(key).data | {"key": raw}
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ReasonSerializer, responses={200: s.ApiKeyOut})
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        data = validated(s.ReasonSerializer, request, self)
        key = api_keys.api_key_revoke(actor=self.principal, api_key=self.get_object(), **data)
        return Response(self.get_serializer(key).data)


class AuditEntryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """The audit log: ops see everything, enterprise admins and auditors their enterprise's."""

    scoped_model = AuditEntry
    serializer_class = s.AuditEntryOut
    filterset_class = filterset(
        AuditEntry,
        ids=["enterprise", "actor_user"],
        fields=["action", "actor_kind", "target_type", "target_id", "request_id"],
    )
    search_fields = ["action", "actor_label", "reason"]
    ordering_fields = ["created_at", "id"]


# --- Accounts: not tenant rows, so plain views ----------------------------------------------


class LoginView(APIView):
    """Start a browser session. Throttled per address and per username (counted in Redis)."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [LoginIpThrottle, LoginUsernameThrottle]

    @extend_schema(request=s.LoginIn, responses={200: None, 400: None, 429: None})
    def post(self, request):
        data = validated(s.LoginIn, request, self)
        user = authenticate(request, username=data["username"], password=data["password"])
        if user is None:
            audit_record(
                actor=Principal.anonymous(f"login attempt as {data['username'][:100]}"),
                action="user.login_failed",
                metadata={"address": request.META.get("REMOTE_ADDR", "")},
            )
            body = error_body("invalid_credentials", "Wrong username or password.")
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        login(request, user)
        get_token(request)  # the session's new CSRF token goes out as the csrftoken cookie
        audit_record(actor=Principal.for_user(user), action="user.login")
        return Response({"id": user.pk, "username": user.get_username()})

    def get_serializer_context(self):
        return {"request": self.request}


class LogoutView(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        logout(request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordResetView(APIView):
    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [PasswordResetThrottle]

    @extend_schema(request=s.PasswordResetIn, responses={202: None})
    def post(self, request):
        data = validated(s.PasswordResetIn, request, self)
        people.password_reset_request(email=data["email"])
        return Response(status=status.HTTP_202_ACCEPTED)

    def get_serializer_context(self):
        return {"request": self.request}


class PasswordResetConfirmView(APIView):
    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [PasswordResetThrottle]

    @extend_schema(request=s.PasswordResetConfirmIn, responses={204: None, 400: None})
    def post(self, request):
        data = validated(s.PasswordResetConfirmIn, request, self)
        people.password_reset_confirm(**data)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def get_serializer_context(self):
        return {"request": self.request}


class InvitationAcceptView(APIView):
    """Redeem an invitation token: signed in, for yourself; otherwise with a new account."""

    permission_classes = [permissions.AllowAny]
    throttle_classes = [PasswordResetThrottle]

    @extend_schema(request=s.InvitationAcceptIn, responses={201: s.MembershipOut, 400: None})
    def post(self, request):
        data = validated(s.InvitationAcceptIn, request, self)
        user = request.user if request.user.is_authenticated else None
        membership = people.invitation_accept(user=user, **data)
        return Response(s.MembershipOut(membership).data, status=status.HTTP_201_CREATED)

    def get_serializer_context(self):
        return {"request": self.request}
