"""The terminals API: fleet list and summary, lifecycle actions, bulk actions, commands,
timeline, registration batches, and the device activation endpoint.

Every view over terminals is a ScopedViewSet (a foreign id is a 404 before any service runs);
services decide whether a visible terminal may be changed (403) and the state machine whether
its state allows it (409).
"""

import django_filters
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, status
from rest_framework.decorators import action
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView
from rest_framework.viewsets import GenericViewSet

from config.api_errors import ApiError
from tenancy.principals import principal_from_request
from tenancy.scoping import ScopedViewSet
from terminals.api import serializers as s
from terminals.models import Presence, RegistrationBatch, Terminal, TerminalState
from terminals.protocol import PROTOCOL_VERSION
from terminals.services import commands, fleet, registration


def validated(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class TerminalFilter(django_filters.FilterSet):
    state = django_filters.MultipleChoiceFilter(choices=TerminalState.choices)
    presence = django_filters.MultipleChoiceFilter(choices=Presence.choices)
    firmware = django_filters.CharFilter(field_name="firmware_version")
    link = django_filters.ChoiceFilter(
        choices=[("usb", "usb"), ("otg", "otg"), ("bluetooth", "bluetooth")]
    )
    host_os = django_filters.ChoiceFilter(
        choices=[("linux", "linux"), ("windows", "windows"), ("android", "android")]
    )
    # Plain id filters: django-filter's default foreign-key filters validate the id against the
    # whole table, so a missing id (400) and another tenant's id (an empty page) would differ.
    enterprise = django_filters.NumberFilter(field_name="enterprise_id")
    merchant = django_filters.NumberFilter(field_name="merchant_id")
    store = django_filters.NumberFilter(field_name="store_id")

    class Meta:
        model = Terminal
        fields = [
            "state",
            "enterprise",
            "merchant",
            "store",
            "presence",
            "firmware",
            "link",
            "host_os",
        ]


class TerminalViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """The fleet, as far as the caller may see it."""

    scoped_model = Terminal
    serializer_class = s.TerminalOut
    filterset_class = TerminalFilter
    search_fields = ["serial", "bluetooth_name", "label"]
    ordering_fields = ["serial", "state", "presence", "last_seen_at", "firmware_version"]

    def filter_scoped(self, queryset):
        return queryset.select_related("hardware_model")

    def _answer(self, terminal) -> Response:
        terminal = self.get_queryset().get(pk=terminal.pk)
        return Response(s.TerminalOut(terminal).data)

    # --- fleet-wide ---------------------------------------------------------------------------

    @extend_schema(responses={200: s.SummaryOut})
    @action(detail=False, methods=["get"])
    def summary(self, request):
        """Counts by state, presence and firmware, for dashboards (same filters as the list)."""
        queryset = self.filter_queryset(self.get_queryset()).order_by()

        def counts(field):
            rows = queryset.values(field).annotate(n=Count("pk"))
            return {row[field] or "unknown": row["n"] for row in rows}

        by_state = counts("state")
        return Response(
            {
                "total": sum(by_state.values()),
                "by_state": by_state,
                "by_presence": counts("presence"),
                "by_firmware": counts("firmware_version"),
            }
        )

    @extend_schema(request=s.AllocateIn, responses={200: s.TerminalOut(many=True)})
    @action(detail=False, methods=["post"])
    def allocate(self, request):
        """Allocate in-stock terminals to an enterprise within its quota, all or none (ops)."""
        data = validated(s.AllocateIn, request)
        visible = set(
            self.get_queryset().filter(pk__in=data["terminals"]).values_list("pk", flat=True)
        )
        if visible != set(data["terminals"]):
            raise Http404
        done = fleet.terminals_allocate(
            actor=self.principal, terminal_ids=data["terminals"], enterprise_id=data["enterprise"]
        )
        return Response(s.TerminalOut(done, many=True).data)

    @extend_schema(request=s.BulkIn, responses={200: s.BulkResultOut(many=True)})
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        """Apply one action to many terminals; each succeeds or fails on its own."""
        data = validated(s.BulkIn, request)
        visible = set(
            self.get_queryset().filter(pk__in=data["terminals"]).values_list("pk", flat=True)
        )
        results = []
        for terminal_id in data["terminals"]:
            if terminal_id not in visible:
                results.append(
                    {
                        "terminal": terminal_id,
                        "ok": False,
                        "error": {"code": "not_found", "message": "Not found."},
                    }
                )
                continue
            try:
                with transaction.atomic():
                    terminal = _bulk_one(
                        self.principal, data["action"], terminal_id, data["reason"]
                    )
                results.append({"terminal": terminal_id, "ok": True, "state": terminal.state})
            except ApiError as exc:
                results.append(
                    {
                        "terminal": terminal_id,
                        "ok": False,
                        "error": {"code": exc.code, "message": exc.message},
                    }
                )
            except PermissionDenied as exc:
                results.append(
                    {
                        "terminal": terminal_id,
                        "ok": False,
                        "error": {"code": "permission_denied", "message": str(exc)},
                    }
                )
        return Response(results)

    # --- one terminal ---------------------------------------------------------------------------

    @extend_schema(request=s.StoreIn, responses={200: s.AssignedOut})
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        """Assign to a store of its enterprise; answers the one-time activation code."""
        terminal = self.get_object()
        data = validated(s.StoreIn, request)
        done = fleet.terminal_assign(
            actor=self.principal,
            terminal_id=terminal.pk,
            store_id=data["store"],
            reason=data["reason"],
        )
        return _assigned(self, done)

    @extend_schema(request=None, responses={200: s.AssignedOut})
    @action(detail=True, methods=["post"], url_path="activation-code")
    def activation_code(self, request, pk=None):
        """Issue a new activation code (earlier unused codes stop working)."""
        terminal = self.get_object()
        done = fleet.terminal_issue_activation_code(actor=self.principal, terminal_id=terminal.pk)
        return _assigned(self, done)

    @extend_schema(request=s.StoreIn, responses={200: s.TerminalOut})
    @action(detail=True, methods=["post"])
    def reassign(self, request, pk=None):
        terminal = self.get_object()
        data = validated(s.StoreIn, request)
        done = fleet.terminal_reassign(
            actor=self.principal,
            terminal_id=terminal.pk,
            store_id=data["store"],
            reason=data["reason"],
        )
        return self._answer(done)

    def _simple(self, service, **extra):
        terminal = self.get_object()
        data = validated(s.ReasonIn, self.request)
        done = service(
            actor=self.principal, terminal_id=terminal.pk, reason=data["reason"], **extra
        )
        return self._answer(done)

    @extend_schema(request=s.ReasonIn, responses={200: s.TerminalOut})
    @action(detail=True, methods=["post"])
    def unassign(self, request, pk=None):
        return self._simple(fleet.terminal_unassign)

    @extend_schema(request=s.ReasonIn, responses={200: s.TerminalOut})
    @action(detail=True, methods=["post"])
    def suspend(self, request, pk=None):
        return self._simple(fleet.terminal_suspend)

    @extend_schema(request=s.ReasonIn, responses={200: s.TerminalOut})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._simple(fleet.terminal_resume)

    @extend_schema(request=s.ReasonIn, responses={200: s.TerminalOut})
    @action(detail=True, methods=["post"])
    def retire(self, request, pk=None):
        return self._simple(fleet.terminal_retire)

    @extend_schema(request=s.ReasonIn, responses={200: s.TerminalOut})
    @action(detail=True, methods=["post"], url_path="report-lost")
    def report_lost(self, request, pk=None):
        return self._simple(fleet.terminal_retire, lost=True)

    @extend_schema(request=s.ReasonIn, responses={200: s.TerminalOut})
    @action(detail=True, methods=["post"], url_path="revoke-credentials")
    def revoke_credentials(self, request, pk=None):
        return self._simple(fleet.terminal_revoke_credentials)

    @extend_schema(request=None, responses={202: s.CommandOut})
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        """Ask the device to rotate its secret over the websocket (see the protocol document)."""
        terminal = self.get_object()
        command = fleet.terminal_rotate_secret(actor=self.principal, terminal_id=terminal.pk)
        return Response(s.CommandOut(command).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(methods=["get"], responses={200: s.CommandOut(many=True)})
    @extend_schema(methods=["post"], request=s.CommandIn, responses={202: s.CommandOut})
    @action(detail=True, methods=["get", "post"])
    def commands(self, request, pk=None):
        """Command history (GET), or send a command (POST: queued, then pushed and acked)."""
        terminal = self.get_object()
        if request.method == "POST":
            data = validated(s.CommandIn, request)
            command = commands.command_send(
                terminal_id=terminal.pk,
                kind=data["kind"],
                payload=data["payload"],
                actor=self.principal,
                ttl_seconds=data.get("ttl_seconds"),
            )
            return Response(s.CommandOut(command).data, status=status.HTTP_202_ACCEPTED)
        page = self.paginate_queryset(terminal.commands.order_by("-created_at"))
        return self.get_paginated_response(s.CommandOut(page, many=True).data)

    @extend_schema(responses={200: s.EventOut(many=True)})
    @action(detail=True, methods=["get"])
    def timeline(self, request, pk=None):
        """The terminal's history: lifecycle, connects, disconnects, hello changes, presence."""
        terminal = self.get_object()
        events = terminal.events.order_by("-at", "-id")
        kind = request.query_params.get("kind")
        if kind:
            events = events.filter(kind__startswith=kind)
        page = self.paginate_queryset(events)
        return self.get_paginated_response(s.EventOut(page, many=True).data)


def _bulk_one(actor, action_name: str, terminal_id: int, reason: str):
    if action_name == "deallocate":
        (terminal,) = fleet.terminals_deallocate(actor=actor, terminal_ids=[terminal_id])
        return terminal
    service = {
        "suspend": fleet.terminal_suspend,
        "resume": fleet.terminal_resume,
        "unassign": fleet.terminal_unassign,
        "retire": fleet.terminal_retire,
        "revoke_credentials": fleet.terminal_revoke_credentials,
    }.get(action_name)
    if service is None:  # report_lost
        return fleet.terminal_retire(actor=actor, terminal_id=terminal_id, reason=reason, lost=True)
    return service(actor=actor, terminal_id=terminal_id, reason=reason)


def _assigned(view, done) -> Response:
    terminal = view.get_queryset().get(pk=done.terminal.pk)
    return Response(
        {
            "terminal": s.TerminalOut(terminal).data,
            "activation_code": done.activation_code,
            "activation_code_expires_at": done.expires_at,
        }
    )


class IsOps(permissions.BasePermission):
    """Registration batches are the provider's stock, not a tenant's: ops staff only."""

    def has_permission(self, request, view) -> bool:
        principal = principal_from_request(request)
        return principal is not None and principal.sees_every_tenant


class RegistrationBatchViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, GenericViewSet):
    """Production batches uploaded as CSV; poll one to follow its progress and errors."""

    # Not tenant rows (ops stock before allocation): ops-only by IsOps, no tenant scope applies.
    queryset = RegistrationBatch.objects.defer("content").order_by("-id")
    serializer_class = s.BatchOut
    permission_classes = [IsOps]
    parser_classes = [MultiPartParser, JSONParser]
    filterset_fields = ["state"]
    ordering_fields = ["id", "created_at"]

    @extend_schema(
        request={"multipart/form-data": s.BatchIn, "application/json": s.BatchIn},
        responses={202: s.BatchOut},
    )
    def create(self, request):
        """Upload a CSV (serial,model,hardware_revision,manufacture_date); imported in the
        background, all or nothing: poll the batch for progress and the per-row errors."""
        data = validated(s.BatchIn, request)
        batch = registration.batch_create(
            actor=principal_from_request(request),
            filename=data["filename"],
            content=data["content"],
        )
        return Response(s.BatchOut(batch).data, status=status.HTTP_202_ACCEPTED)


class ActivationThrottle(AnonRateThrottle):
    scope = "terminal_activation"
    rate = "30/min"


class ActivationView(APIView):
    """The device endpoint: serial + activation code → the device secret, exactly once."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = [ActivationThrottle]

    @extend_schema(request=s.ActivationIn, responses={201: s.ActivationOut})
    def post(self, request):
        data = validated(s.ActivationIn, request)
        done = fleet.terminal_activate(serial=data["serial"], code=data["code"])
        return Response(
            {
                "terminal_id": done.terminal.pk,
                "serial": done.terminal.serial,
                "secret": done.secret,
                "websocket_path": "/ws/terminal/",
                "heartbeat_interval": done.terminal.heartbeat_interval,
                "protocol_version": PROTOCOL_VERSION,
            },
            status=status.HTTP_201_CREATED,
        )
