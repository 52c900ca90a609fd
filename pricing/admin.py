"""Pricing admin pieces that know only pricing: the price fields, the inlines of a version's
products, tiers, GPU devices and payment rules (editable while it is a draft, read-only after),
and the read-only lists across versions. The pricing version's own admin shows its impact on the
live resources, so the credits admin defines and registers it (credits/admin/pricing.py).
"""
from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib import admin
from django.db import models
from django.utils.html import format_html

from .aggregate import format_price
from .enums import PaymentType, ProductType
from .fields import ExactDecimalField
from .models import GpuDevice, PaymentRule, Product, Tier
from .rules import format_rule_date


class FitInput(forms.TextInput):
    """A text box as wide as the text in it (at least `min_chars`): an exact price such as
    0.17967489030626108, or a GPU's long name, is read whole and the tables still fit."""

    def __init__(self, attrs=None, *, min_chars: int = 5, ch_per_char: float = 1.0):
        super().__init__(attrs)
        self.min_chars = min_chars
        self.ch_per_char = ch_per_char  # letters are wider than digits: about 1.2 ch

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        length = len(str(value)) if value not in (None, "") else 0
        # `ch` is the width of a digit (the admin's padding comes on top); letters run wider.
        width_ch = max(self.min_chars, length) * self.ch_per_char
        context["widget"]["attrs"]["style"] = f"width: calc({width_ch:.1f}ch + 2px)"
        return context


class PriceFormField(forms.DecimalField):
    """A price typed as text and shown without the 18-place padding of the column."""

    widget = FitInput

    def prepare_value(self, value):
        if isinstance(value, Decimal):
            return format_price(value)
        return value


_PRICE_OVERRIDES = {ExactDecimalField: {"form_class": PriceFormField, "widget": FitInput},
                    # CU sizes are short numbers (vCPUs, MiB)
                    models.PositiveIntegerField: {
                        "widget": forms.NumberInput(attrs={"style": "width: 7ch"})}}


def _price_display(model, field_name: str):
    field = model._meta.get_field(field_name)

    @admin.display(description=field.verbose_name)
    def display(self, obj):
        value = getattr(obj, field_name)
        return "-" if value is None else format_price(value)

    display.__name__ = f"{field_name}_shown"
    return display


class _VersionChildInline(admin.TabularInline):
    """Editable while the parent version is a draft; read-only (no add, no delete) after."""

    extra = 0
    formfield_overrides = _PRICE_OVERRIDES
    # Read-only prices are shown through these, without the column's trailing zeros.
    price_fields: tuple[str, ...] = ()

    @staticmethod
    def _editable(obj) -> bool:
        return obj is None or obj.is_editable

    def has_add_permission(self, request, obj=None):
        return self._editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return self._editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._editable(obj) and super().has_delete_permission(request, obj)

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        if self._editable(obj):
            return fields
        return [f"{name}_shown" if name in self.price_fields else name for name in fields]

    def get_readonly_fields(self, request, obj=None):
        if self._editable(obj):
            return ()
        return tuple(self.get_fields(request, obj))


class ProductInline(_VersionChildInline):
    model = Product
    fields = ("product_type", "cu_vcpus", "cu_memory_mib", "cu_disk_mib", "price_cu_hold",
              "price_cu_payg_per_hour", "price_cu_credit_per_hour", "price_storage_hold_per_mib",
              "price_storage_payg_per_mib_hour", "price_storage_credit_per_mib_hour",
              "price_fixed_hold")
    price_fields = tuple(name for name in fields if name.startswith("price_"))

    class Media:
        css = {"all": ("pricing/editor.css",)}


for _name in ProductInline.price_fields:
    setattr(ProductInline, f"{_name}_shown", _price_display(Product, _name))


class TierInline(_VersionChildInline):
    model = Tier
    fields = ("product_type", "tier_id", "compute_units", "model", "vram_mib")


class GpuDeviceInline(_VersionChildInline):
    model = GpuDevice
    fields = ("device_id", "model", "name", "vendor")
    verbose_name = "GPU device"
    verbose_name_plural = "GPU catalogue (PCI device id → model)"

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name in ("name", "model", "vendor"):
            kwargs["widget"] = FitInput(min_chars=12, ch_per_char=1.2)
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class PaymentRuleInline(_VersionChildInline):
    """The version's payment rules: from the date on, the payment types ticked are refused for
    the products ticked (registration answers 422 payment_type_not_accepted)."""

    model = PaymentRule
    fields = ("name", "product_types", "payment_types", "not_accepted_from", "description")
    verbose_name = "payment rule"
    verbose_name_plural = ("Payment rules (from the date on, the payment types ticked are "
                           "refused for the products ticked)")
    _CHOICES = {"product_types": ProductType, "payment_types": PaymentType}

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        choices = self._CHOICES.get(db_field.name)
        if choices is not None:
            return forms.TypedMultipleChoiceField(
                choices=choices.choices, widget=forms.CheckboxSelectMultiple,
                label=db_field.verbose_name, help_text=db_field.help_text)
        if db_field.name == "not_accepted_from":
            # One box, as on the publish page (the admin's split date and time is two).
            return forms.DateTimeField(
                label="not accepted from (UTC)", help_text=db_field.help_text,
                widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1},
                                           format="%Y-%m-%dT%H:%M:%S"))
        if db_field.name == "name":
            kwargs["widget"] = FitInput(min_chars=12, ch_per_char=1.2)
        if db_field.name == "description":
            kwargs["widget"] = forms.Textarea(attrs={"rows": 3, "cols": 36})
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        if self._editable(obj):
            return fields
        # Read-only: the lists as labels, the date as people read it.
        return [f"{name}_shown" if name in (*self._CHOICES, "not_accepted_from") else name
                for name in fields]

    @admin.display(description="product types")
    def product_types_shown(self, obj):
        return ", ".join(ProductType(value).label for value in obj.product_types)

    @admin.display(description="payment types")
    def payment_types_shown(self, obj):
        return ", ".join(PaymentType(value).label for value in obj.payment_types)

    @admin.display(description="not accepted from")
    def not_accepted_from_shown(self, obj):
        return format_html('<span style="white-space: nowrap">{}</span>',
                           format_rule_date(obj.not_accepted_from))


class _ReadOnlyAdmin(admin.ModelAdmin):
    """Lists across versions; rows are edited through their version's inlines."""

    list_select_related = ("version",)
    formfield_overrides = _PRICE_OVERRIDES

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Product)
class ProductAdmin(_ReadOnlyAdmin):
    list_display = ("product_type", "version", "cu_vcpus", "cu_memory_mib", "cu_disk_mib",
                    "price_cu_credit_per_hour_shown", "price_storage_credit_per_mib_hour_shown")
    list_filter = ("product_type", "version__status")


for _name in ProductInline.price_fields:
    setattr(ProductAdmin, f"{_name}_shown", _price_display(Product, _name))


@admin.register(Tier)
class TierAdmin(_ReadOnlyAdmin):
    list_display = ("product_type", "tier_id", "compute_units", "model", "vram_mib", "version")
    list_filter = ("product_type", "version__status")


@admin.register(GpuDevice)
class GpuDeviceAdmin(_ReadOnlyAdmin):
    list_display = ("device_id", "model", "name", "vendor", "version")
    list_filter = ("model", "version__status")
    search_fields = ("device_id", "model", "name")
