"""Pricing versions and what they hold: products with their compute unit and prices, tiers, the
GPU catalogue and the payment rules. A version is edited as a draft, published with an effective
date, and never edited again; history of every change is kept by django-simple-history.
"""
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords

from .enums import PaymentType, ProductType, VersionStatus
from .fields import ExactDecimalField

GPU_DEVICE_ID_VALIDATOR = RegexValidator(
    r"^[0-9a-f]{4}:[0-9a-f]{4}$", "A PCI device id is vendor:device in lowercase hex, e.g. 10de:2684."
)
NON_NEGATIVE = [MinValueValidator(0)]


class PricingVersion(models.Model):
    name = models.CharField(max_length=120)
    status = models.CharField(max_length=16, choices=VersionStatus.choices,
                              default=VersionStatus.DRAFT, db_index=True)
    effective_from = models.DateTimeField(
        null=True, blank=True,
        help_text="From this instant the version is in force (set when publishing).")
    published_at = models.DateTimeField(null=True, blank=True, editable=False)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+", editable=False)
    copied_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="copies", editable=False)
    notes = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-effective_from", "-id"]
        constraints = [
            models.CheckConstraint(
                name="pricing_version_published_has_effective_date",
                condition=models.Q(status=VersionStatus.DRAFT)
                | models.Q(effective_from__isnull=False, published_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.name} ({self.get_status_display()})"

    @property
    def is_editable(self) -> bool:
        return self.status == VersionStatus.DRAFT


class Product(models.Model):
    """One product of a version: its compute unit and its prices.

    Hold prices are tokens per CU or per MiB; PAYG (stream) and credit prices are per hour.
    An empty price is absent from the network's aggregate and counts as zero.
    """

    version = models.ForeignKey(PricingVersion, on_delete=models.CASCADE, related_name="products")
    product_type = models.CharField(max_length=32, choices=ProductType.choices)
    cu_vcpus = models.PositiveIntegerField("CU vCPUs", null=True, blank=True)
    cu_memory_mib = models.PositiveIntegerField("CU memory (MiB)", null=True, blank=True,
                                                validators=[MinValueValidator(1)])
    cu_disk_mib = models.PositiveIntegerField("CU included disk (MiB)", null=True, blank=True)
    price_cu_hold = ExactDecimalField("hold / CU", null=True, blank=True,
                                      validators=NON_NEGATIVE)
    price_cu_payg_per_hour = ExactDecimalField("PAYG / CU / h", null=True, blank=True,
                                               validators=NON_NEGATIVE)
    price_cu_credit_per_hour = ExactDecimalField("credit / CU / h", null=True, blank=True,
                                                 validators=NON_NEGATIVE)
    price_storage_hold_per_mib = ExactDecimalField("storage hold / MiB", null=True, blank=True,
                                                   validators=NON_NEGATIVE)
    price_storage_payg_per_mib_hour = ExactDecimalField("storage PAYG / MiB / h", null=True,
                                                        blank=True, validators=NON_NEGATIVE)
    price_storage_credit_per_mib_hour = ExactDecimalField("storage credit / MiB / h", null=True,
                                                          blank=True, validators=NON_NEGATIVE)
    price_fixed_hold = ExactDecimalField("fixed price", null=True, blank=True,
                                         validators=NON_NEGATIVE)
    history = HistoricalRecords()

    class Meta:
        ordering = ["version", "product_type"]
        constraints = [
            models.UniqueConstraint(fields=["version", "product_type"],
                                    name="pricing_product_unique_per_version"),
        ]

    def __str__(self) -> str:
        return f"{self.product_type} (version {self.version_id})"


class Tier(models.Model):
    version = models.ForeignKey(PricingVersion, on_delete=models.CASCADE, related_name="tiers")
    product_type = models.CharField(max_length=32, choices=ProductType.choices)
    tier_id = models.CharField(max_length=32)
    compute_units = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    model = models.CharField("GPU model", max_length=64, blank=True)
    vram_mib = models.PositiveIntegerField("VRAM (MiB)", null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["version", "product_type", "compute_units", "tier_id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "product_type", "tier_id"],
                                    name="pricing_tier_unique_per_product"),
        ]

    def __str__(self) -> str:
        return f"{self.product_type} {self.tier_id}"


class GpuDevice(models.Model):
    """The GPU catalogue of a version: PCI device id → model. A device id appears once."""

    version = models.ForeignKey(PricingVersion, on_delete=models.CASCADE,
                                related_name="gpu_devices")
    device_id = models.CharField(max_length=9, validators=[GPU_DEVICE_ID_VALIDATOR])
    model = models.CharField(max_length=64)
    name = models.CharField(max_length=120, blank=True)
    vendor = models.CharField(max_length=32, default="NVIDIA")
    history = HistoricalRecords()

    class Meta:
        verbose_name = "GPU device"
        verbose_name_plural = "GPU devices"
        ordering = ["version", "model", "device_id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "device_id"],
                                    name="pricing_gpu_device_unique_per_version"),
        ]

    def __str__(self) -> str:
        return f"{self.device_id} {self.model}"


class PaymentRule(models.Model):
    """A payment rule of a version: from `not_accepted_from` on, the payment types listed are
    refused for the product types listed (the network's payment cut-offs; pricing/rules.py
    applies them)."""

    version = models.ForeignKey(PricingVersion, on_delete=models.CASCADE,
                                related_name="payment_rules")
    name = models.SlugField(max_length=64, help_text="Named in refusals, e.g. credit_only.")
    product_types = ArrayField(
        models.CharField(max_length=32, choices=ProductType.choices),
        help_text="The products the rule applies to.")
    payment_types = ArrayField(
        models.CharField(max_length=16, choices=PaymentType.choices),
        help_text="The payment types refused for them.")
    not_accepted_from = models.DateTimeField(
        "not accepted from", help_text="From this instant on, the payment types are refused.")
    description = models.CharField(max_length=200, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["version", "not_accepted_from", "name"]
        constraints = [
            models.UniqueConstraint(fields=["version", "name"],
                                    name="pricing_payment_rule_unique_per_version"),
            models.CheckConstraint(name="pricing_payment_rule_lists_not_empty",
                                   condition=models.Q(product_types__len__gt=0,
                                                      payment_types__len__gt=0)),
        ]

    def __str__(self) -> str:
        return f"{self.name} (version {self.version_id})"
