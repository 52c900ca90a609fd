"""Events and webhooks in the admin: the outbox (read only), webhook endpoints (created with a
secret shown once; a notice on those disabled for failing), and the delivery log with its
attempts (status codes, latency, excerpts) and a *resend* action."""
from __future__ import annotations

from django.contrib import admin, messages
from django.db import models
from django.utils.html import format_html

from ..errors import WebhookTargetRefused
from ..models import Delivery, DeliveryAttempt, Event, WebhookEndpoint
from ..services.webhooks import (
    deliveries_resend,
    webhook_endpoint_create,
    webhook_endpoint_update,
    webhook_url_check,
)
from .shared import ReadOnlyAdminMixin


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("public_id", "type", "occurred_at", "account", "resource_id", "xid")
    list_filter = ("type",)
    search_fields = ("account__address", "payload__item_hash")
    list_select_related = ("account",)
    fields = ("public_id", "type", "occurred_at", "schema_version", "account", "resource_id",
              "xid", "payload")
    readonly_fields = fields
    show_full_result_count = False

    @admin.display(description="id")
    def public_id(self, event):
        return event.public_id


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """The secret is shown once, in the message after the endpoint is created. An endpoint
    disabled for failing says so at the top of its page and of the list."""

    list_display = ("url", "account", "enabled", "_types", "_failing", "disabled_at",
                    "created_by", "created_at")
    list_filter = ("enabled",)
    search_fields = ("url", "account__address", "description")
    list_select_related = ("account",)
    raw_id_fields = ("account",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    readonly_fields = ("created_by", "created_at", "failing_since", "disabled_at",
                       "disabled_reason")

    def get_fields(self, request, obj=None):
        editable = ("url", "description", "event_types", "enabled", "account")
        return editable if obj is None else (*editable, *self.readonly_fields)

    @admin.display(description="event types")
    def _types(self, endpoint):
        return ", ".join(endpoint.event_types) or "all"

    @admin.display(description="failing since")
    def _failing(self, endpoint):
        if endpoint.failing_since is None:
            return "—"
        return format_html('<strong class="errornote">{}</strong>',
                           endpoint.failing_since.strftime("%Y-%m-%d %H:%M UTC"))

    def changelist_view(self, request, extra_context=None):
        for endpoint in WebhookEndpoint.objects.filter(disabled_at__isnull=False,
                                                       enabled=False):
            self.message_user(request, f"{endpoint.url}: {endpoint.disabled_reason} Enable it "
                                       f"again once it answers.", messages.WARNING)
        return super().changelist_view(request, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        endpoint = WebhookEndpoint.objects.filter(pk=object_id).first()
        if endpoint is not None and not endpoint.enabled and endpoint.disabled_reason \
                and request.method == "GET":
            self.message_user(request, endpoint.disabled_reason, messages.WARNING)
        return super().change_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)

        def clean_url(form_self):
            try:
                return webhook_url_check(form_self.cleaned_data["url"])
            except WebhookTargetRefused as exc:
                from django.core.exceptions import ValidationError
                raise ValidationError(exc.message) from None
        form.clean_url = clean_url
        return form

    def save_model(self, request, obj, form, change):
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data
                       if name in ("url", "event_types", "enabled", "description")}
            webhook_endpoint_update(endpoint=WebhookEndpoint.objects.get(pk=obj.pk), **changes)
            if "account" in form.changed_data:
                WebhookEndpoint.objects.filter(pk=obj.pk).update(account=obj.account)
            return
        endpoint, secret = webhook_endpoint_create(
            url=obj.url, account=obj.account, event_types=obj.event_types, enabled=obj.enabled,
            description=obj.description, actor=f"staff:{request.user.get_username()}")
        obj.pk = endpoint.pk
        obj.secret = secret
        obj.created_by = endpoint.created_by
        self.message_user(request, format_html(
            "The signing secret of this endpoint, shown only now: <code>{}</code>", secret),
            messages.WARNING)

    def save_related(self, request, form, formsets, change):
        pass  # no related objects, and the row was saved by the service


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ("attempted_at", "succeeded", "status_code", "latency_ms", "error",
              "response_excerpt")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("event", "endpoint", "status", "attempts", "last_status_code",
                    "last_attempt_at", "next_attempt_at", "delivered_at")
    list_filter = ("status", "endpoint")
    search_fields = ("endpoint__url",)
    list_select_related = ("event", "endpoint")
    fields = ("event", "endpoint", "status", "attempts", "created_at", "next_attempt_at",
              "retry_until", "leased_until", "last_attempt_at", "last_status_code", "last_error",
              "delivered_at")
    readonly_fields = fields
    inlines = [DeliveryAttemptInline]
    actions = ["resend"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Resend the selected deliveries", permissions=["change"])
    def resend(self, request, queryset):
        count = deliveries_resend(delivery_ids=queryset.values_list("pk", flat=True))
        self.message_user(request, f"{count} deliver{'y' if count == 1 else 'ies'} will be sent "
                                   f"again (with the same webhook-id).", messages.SUCCESS)
