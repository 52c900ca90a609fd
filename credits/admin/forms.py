"""Forms of the credits admin: a new API key (scope and account checked together), a staff
credit adjustment (signed amount, a reason, an optional expiry), the lifecycle settings, and the
pending-deletions desk's operations (restore, extend the grace, delete now)."""
from __future__ import annotations

import uuid

from django import forms
from django.utils import timezone

from ..addresses import InvalidAddress, normalize_address
from ..models import ApiKey, ApiKeyScope, LifecycleSettings
from ..selectors.lifecycle import lifecycle_settings_defaults
from ..services.operator import MAX_GRACE_EXTENSION_HOURS, OPERATOR_REASON_MAX_CHARS


class ApiKeyCreateForm(forms.ModelForm):
    """A new key. The account is typed as an address (any case); it is required for an owner
    key and refused for the others, as the database's check constraint demands."""

    account_address = forms.CharField(
        label="Account", required=False, max_length=128,
        widget=forms.TextInput(attrs={"size": 48, "placeholder": "0x… (owner keys only)"}),
        help_text="The account an owner key acts for, as an address in any case (EVM addresses "
                  "are checksummed). Created if it does not exist yet. Leave empty for service "
                  "and operator keys.")

    class Meta:
        model = ApiKey
        fields = ("name", "scope", "account_address", "expiry_date")

    def clean_account_address(self) -> str:
        raw = self.cleaned_data.get("account_address", "").strip()
        if not raw:
            return ""
        try:
            return normalize_address(raw)
        except InvalidAddress as exc:
            raise forms.ValidationError(str(exc), code="invalid_address") from exc

    def clean_expiry_date(self):
        expiry_date = self.cleaned_data.get("expiry_date")
        if expiry_date is not None and expiry_date <= timezone.now():
            raise forms.ValidationError("The expiry date must be in the future.",
                                        code="expiry_in_past")
        return expiry_date

    def clean(self):
        cleaned = super().clean()
        scope = cleaned.get("scope")
        if "account_address" not in cleaned or not scope:
            return cleaned  # the field's own error is enough
        address = cleaned["account_address"]
        if scope == ApiKeyScope.OWNER and not address:
            self.add_error("account_address", forms.ValidationError(
                "An owner key needs the account it acts for.", code="owner_needs_account"))
        elif scope != ApiKeyScope.OWNER and address:
            self.add_error("account_address", forms.ValidationError(
                f"A {scope} key is not bound to an account: leave the account empty.",
                code="account_only_for_owner"))
        return cleaned


class CreditAdjustmentForm(forms.Form):
    """A staff adjustment of one account's credits, written by `adjustment_create`."""

    amount = forms.IntegerField(
        label="Amount (credits)",
        help_text="Signed whole credits: positive adds credits, negative removes them (drained "
                  "soonest-expiring first; what cannot be drained is recorded as a shortfall).")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=2000,
        help_text="Why; kept in the ledger with your user name.")
    expires_at = forms.DateTimeField(
        label="Expires at", required=False,
        help_text="Optional, for a positive amount: when the added credits expire "
                  "(YYYY-MM-DD HH:MM, server time zone).")
    # Generated when the form is shown, so a double submit writes one entry, not two.
    reference = forms.CharField(widget=forms.HiddenInput, max_length=200)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("reference", f"admin-adjust:{uuid.uuid4()}")
        super().__init__(*args, **kwargs)

    def clean_amount(self) -> int:
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("An adjustment of zero credits changes nothing.",
                                        code="zero_amount")
        return amount

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why the credits are adjusted.", code="required")
        return reason

    def clean(self):
        cleaned = super().clean()
        amount, expires_at = cleaned.get("amount"), cleaned.get("expires_at")
        if expires_at is not None:
            if amount is not None and amount < 0:
                self.add_error("expires_at", forms.ValidationError(
                    "Only added credits can expire; leave the expiry empty for a negative "
                    "amount.", code="expiry_on_debit"))
            elif expires_at <= timezone.now():
                self.add_error("expires_at", forms.ValidationError(
                    "The expiry must be in the future.", code="expiry_in_past"))
        return cleaned


# --- lifecycle settings --------------------------------------------------------------------------

MAX_LIFECYCLE_HOURS = 24 * 365


class LifecycleSettingsForm(forms.ModelForm):
    """The three knobs, with the defaults they started from (Django settings) in their help."""

    grace_hours = forms.IntegerField(min_value=0, max_value=MAX_LIFECYCLE_HOURS)
    funding_horizon_hours = forms.IntegerField(min_value=1, max_value=MAX_LIFECYCLE_HOURS)

    class Meta:
        model = LifecycleSettings
        fields = ("grace_hours", "metering_enabled", "funding_horizon_hours")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        defaults = lifecycle_settings_defaults()
        notes = {
            "grace_hours": "Hours a resource flagged for deletion keeps running (and billed) "
                           "before the first run after its deadline removes it. Applies to "
                           "resources flagged from now on; flagged ones keep their deadline. "
                           "0 removes at the next run.",
            "metering_enabled": "Charge credit-paid resources for each whole hour they run. "
                                "Off: no hour is charged; switched on again, metering catches "
                                "up from each resource's last charged hour.",
            "funding_horizon_hours": "Hours of cost an account's credits must cover: "
                                     "registration refuses a credit-paid resource they cannot "
                                     "fund this long, and each run flags the newest resources "
                                     "beyond what they fund.",
        }
        for name, note in notes.items():
            default = defaults[name]
            shown = ("on" if default else "off") if isinstance(default, bool) else f"{default} h"
            self.fields[name].help_text = f"{note} Default (Django settings): {shown}."


# --- the pending-deletions desk's operations -----------------------------------------------------

def _reason_field(*, required: bool, help_text: str) -> forms.CharField:
    return forms.CharField(required=required, max_length=OPERATOR_REASON_MAX_CHARS,
                           help_text=help_text,
                           widget=forms.TextInput(attrs={"size": 70, "autocomplete": "off"}))


class RestoreForm(forms.Form):
    reason = _reason_field(required=False,
                           help_text="Optional: written to the audit row with your user name.")


class ExtendGraceForm(forms.Form):
    hours = forms.IntegerField(min_value=1, max_value=MAX_GRACE_EXTENSION_HOURS, initial=24,
                               help_text=f"Added to each deadline (1 to "
                                         f"{MAX_GRACE_EXTENSION_HOURS} h).")
    reason = _reason_field(required=True, help_text="Why: written to the audit row with your "
                                                    "user name and the new deadline.")


class DeleteNowForm(forms.Form):
    reason = _reason_field(required=True, help_text="Why: written to the audit row with your "
                                                    "user name.")
