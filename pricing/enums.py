"""The named values of pricing: product types, payment types, cost row types, version statuses."""
from django.db import models


class ProductType(models.TextChoices):
    STORAGE = "storage", "Storage"
    WEB3_HOSTING = "web3_hosting", "Web3 hosting"
    PROGRAM = "program", "Program (on demand)"
    PROGRAM_PERSISTENT = "program_persistent", "Program (persistent)"
    INSTANCE = "instance", "Instance"
    INSTANCE_CONFIDENTIAL = "instance_confidential", "Instance (confidential)"
    INSTANCE_GPU_STANDARD = "instance_gpu_standard", "Instance (GPU standard)"
    INSTANCE_GPU_PREMIUM = "instance_gpu_premium", "Instance (GPU premium)"


class PaymentType(models.TextChoices):
    HOLD = "hold", "Hold"
    SUPERFLUID = "superfluid", "Stream (Superfluid)"
    CREDIT = "credit", "Credit"


class CostRowType(models.TextChoices):
    EXECUTION = "EXECUTION"
    EXECUTION_INSTANCE_VOLUME_ROOTFS = "EXECUTION_INSTANCE_VOLUME_ROOTFS"
    EXECUTION_PROGRAM_VOLUME_CODE = "EXECUTION_PROGRAM_VOLUME_CODE"
    EXECUTION_PROGRAM_VOLUME_RUNTIME = "EXECUTION_PROGRAM_VOLUME_RUNTIME"
    EXECUTION_PROGRAM_VOLUME_DATA = "EXECUTION_PROGRAM_VOLUME_DATA"
    # The network's spelling, kept so rows compare equal with its own.
    EXECUTION_VOLUME_INMUTABLE = "EXECUTION_VOLUME_INMUTABLE"
    EXECUTION_VOLUME_PERSISTENT = "EXECUTION_VOLUME_PERSISTENT"
    EXECUTION_VOLUME_DISCOUNT = "EXECUTION_VOLUME_DISCOUNT"
    STORAGE = "STORAGE"


class MessageType(models.TextChoices):
    INSTANCE = "INSTANCE"
    PROGRAM = "PROGRAM"
    STORE = "STORE"


class VersionStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    SUPERSEDED = "superseded", "Superseded"
