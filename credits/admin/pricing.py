"""The pricing versions' admin and the recalculation jobs': a draft is edited with inlines (its
differences from the version in force shown above them), then published (with a confirmation
showing the impact on live resources), copied, exported or imported as the network's JSON;
published and superseded versions are read-only and never deleted (their delete page says so and
offers a copy). The version in force can be applied to the existing resources by a recalculation
job, whose progress and summary have their own read-only pages.

Defined here, not in pricing, because the impact and the recalculation need resources; the
model's app is still `pricing`, so its URLs and templates are pricing's (admin/pricing/...).
The pricing-only inlines and pages are imported from pricing.
"""
from __future__ import annotations

from functools import partial

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import BooleanField, Case, Value, When
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from simple_history.admin import SimpleHistoryAdmin

from pricing import admin_views
from pricing.admin import GpuDeviceInline, PaymentRuleInline, ProductInline, TierInline
from pricing.diff import version_diff, version_diff_base
from pricing.models import GpuDevice, PricingVersion, Product, Tier
from pricing.selectors import pricing_version_in_force

from ..models import Recalculation, RecalculationLine
from . import pricing_views


@admin.register(PricingVersion)
class PricingVersionAdmin(SimpleHistoryAdmin):
    list_display = ("name", "status", "effective_from", "published_at", "published_by",
                    "in_force")
    list_display_links = ("name",)
    list_filter = ("status",)
    search_fields = ("name", "notes")
    list_select_related = ("published_by",)
    fields = ("name", "status", "in_force", "effective_from", "published_at", "published_by",
              "copied_from", "created_at", "notes")
    always_read_only = ("status", "in_force", "effective_from", "published_at", "published_by",
                        "copied_from", "created_at")
    inlines = [ProductInline, TierInline, GpuDeviceInline, PaymentRuleInline]
    actions = ["copy_to_new_draft", "recalculate_resources"]

    def get_queryset(self, request):
        in_force = pricing_version_in_force()
        marker = (Case(When(pk=in_force.pk, then=Value(True)), default=Value(False),
                       output_field=BooleanField())
                  if in_force else Value(False, output_field=BooleanField()))
        return super().get_queryset(request).annotate(is_in_force=marker)

    @admin.display(boolean=True, description="in force")
    def in_force(self, obj):
        if hasattr(obj, "is_in_force"):
            return obj.is_in_force
        in_force = pricing_version_in_force()
        return in_force is not None and in_force.pk == obj.pk

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and not obj.is_editable:
            return self.fields
        return self.always_read_only

    def has_change_permission(self, request, obj=None):
        if obj is not None and not obj.is_editable:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and not obj.is_editable:
            return False
        return super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs, request):
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        # A draft's products, tiers and GPU devices go with it; their own lists are read-only,
        # which must not make a deletable draft undeletable.
        # Published versions stay (costs were computed with them): the bulk delete action
        # shows them as protected and deletes nothing. (They are also the only versions refused
        # delete permission per object; listed as protected, they need no "missing permission".)
        own = {str(model._meta.verbose_name) for model in (PricingVersion, Product, Tier,
                                                           GpuDevice, Recalculation,
                                                           RecalculationLine)}
        perms_needed = {name for name in perms_needed if name not in own}
        protected = [*protected, *(f"{version} (published versions are never deleted)"
                                   for version in objs if not version.is_editable)]
        return deleted, model_count, perms_needed, protected

    # Reverting a version to an older historical row could turn a published version back into
    # a draft and would not restore its products: history is for reading here.
    def revert_disabled(self, request, obj=None):
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            raise PermissionDenied("Pricing versions are not reverted from history; copy a "
                                   "version to a new draft instead.")
        return super().history_form_view(request, object_id, version_id, extra_context)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        wrap = self.admin_site.admin_view
        custom = [
            path("import/", wrap(self.import_view), name="%s_%s_import" % info),
            path("<path:object_id>/publish/", wrap(self.publish_view),
                 name="%s_%s_publish" % info),
            path("<path:object_id>/copy/", wrap(self.copy_view), name="%s_%s_copy" % info),
            path("<path:object_id>/export/", wrap(self.export_view),
                 name="%s_%s_export" % info),
            path("<path:object_id>/changes/", wrap(self.changes_view),
                 name="%s_%s_changes" % info),
            path("<path:object_id>/differences/", wrap(self.differences_view),
                 name="%s_%s_differences" % info),
            path("<path:object_id>/impact/", wrap(self.impact_view),
                 name="%s_%s_impact" % info),
            path("<path:object_id>/recalculate/", wrap(self.recalculate_view),
                 name="%s_%s_recalculate" % info),
        ]
        return custom + super().get_urls()

    def import_view(self, request):
        return admin_views.version_import(self, request)

    def publish_view(self, request, object_id):
        return admin_views.version_publish(self, request, object_id,
                                           preview_context=pricing_views.impact_context)

    def copy_view(self, request, object_id):
        return admin_views.version_copy(self, request, object_id)

    def delete_view(self, request, object_id, extra_context=None):
        """A draft is deleted as usual; a published version's page says why it never is."""
        return admin_views.version_delete(
            self, request, object_id,
            delete_draft=partial(super().delete_view, request, object_id, extra_context))

    def export_view(self, request, object_id):
        return admin_views.version_export(self, request, object_id)

    def changes_view(self, request, object_id):
        return admin_views.version_changes(self, request, object_id)

    def differences_view(self, request, object_id):
        return admin_views.version_differences(self, request, object_id)

    def impact_view(self, request, object_id):
        return pricing_views.version_impact(self, request, object_id)

    def recalculate_view(self, request, object_id):
        return pricing_views.version_recalculate(self, request, object_id)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "publish_available": False}
        obj = self.get_object(request, unquote(object_id))
        if obj is not None:
            extra_context["publish_available"] = (
                obj.is_editable and self.has_change_permission(request, obj))
            extra_context["copy_available"] = self.has_add_permission(request)
            in_force = pricing_version_in_force()
            extra_context["in_force"] = in_force
            extra_context["is_in_force"] = in_force is not None and in_force.pk == obj.pk
            extra_context["recalculate_available"] = (
                extra_context["is_in_force"] and pricing_views.can_start_jobs(request))
            # The saved version against the version in force (or, for the version in force,
            # the one it was copied from): what publishing it would change.
            if request.method == "GET":
                extra_context["diff"] = version_diff(version=obj,
                                                     base=version_diff_base(obj))
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}),
                         "import_available": self.has_add_permission(request)}
        return super().changelist_view(request, extra_context)

    @admin.action(description="Copy to a new draft", permissions=["add"])
    def copy_to_new_draft(self, request, queryset):
        """One version: its new draft's change page opens; several: back to the list."""
        return admin_views.versions_copy(self, request, queryset)

    @admin.action(description="Recalculate existing resources with this version",
                  permissions=["recalculate"])
    def recalculate_resources(self, request, queryset):
        """Goes to the confirmation page (with the impact) of the one version selected."""
        versions = list(queryset[:2])
        if len(versions) != 1:
            self.message_user(request, "Select exactly one version (the version in force) to "
                                       "recalculate the existing resources with.",
                              messages.ERROR)
            return None
        return HttpResponseRedirect(reverse("admin:pricing_pricingversion_recalculate",
                                            args=[versions[0].pk],
                                            current_app=self.admin_site.name))

    def has_recalculate_permission(self, request):
        return pricing_views.can_start_jobs(request)


@admin.register(Recalculation)
class RecalculationAdmin(admin.ModelAdmin):
    """Recalculation jobs and dry runs, read-only: each opens on its progress and summary."""

    list_display = ("__str__", "version", "dry_run", "status", "progress", "recalculated",
                    "cost_changed", "unchanged", "failed", "created_by", "created_at",
                    "finished_at")
    list_display_links = ("__str__",)
    list_filter = ("status", "dry_run")
    list_select_related = ("version", "created_by")
    search_fields = ("=version__id", "version__name")

    @admin.display(description="done")
    def progress(self, obj):
        return f"{obj.done} / {obj.total}"

    def has_add_permission(self, request):
        return False  # started from a pricing version's page

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return pricing_views.recalculation_detail(self, request, object_id)
