"""Forms of the credits admin: a new API key (scope and account checked together), a new account
(with an optional first grant), a staff grant (credits, a reason, an optional expiry), a staff
credit adjustment (signed amount, a reason, an optional expiry), the lifecycle settings, and the
pending-deletions desk's operations (restore, extend the grace, delete now)."""
from __future__ import annotations

import uuid

from django import forms
from django.utils import timezone
from django.utils.html import format_html

from ..addresses import MAX_ADDRESS_LENGTH, InvalidAddress, normalize_address
from ..models import Account, ApiKey, ApiKeyScope, LifecycleSettings
from ..selectors.accounts import account_by_address
from ..selectors.lifecycle import lifecycle_settings_defaults
from ..services.ledger import MAX_CREDITS, MAX_REFERENCE_LENGTH
from ..services.operator import MAX_GRACE_EXTENSION_HOURS, OPERATOR_REASON_MAX_CHARS
from .display import when_text
from .shared import change_url


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


# --- accounts and their credits ------------------------------------------------------------------

def account_exists_error(account: Account) -> forms.ValidationError:
    """The error of an address that already has an account, linking to that account."""
    return forms.ValidationError(
        format_html('An account for this address already exists: <a href="{}">{}</a> '
                    "(created {}).", change_url(account), account.address,
                    when_text(account.created_at)),
        code="account_exists")


def _one_time_reference(prefix: str) -> forms.CharField:
    # Generated when the form is shown and used as the ledger's idempotency reference, so a
    # double submit writes one entry, not two.
    return forms.CharField(widget=forms.HiddenInput, max_length=MAX_REFERENCE_LENGTH,
                           initial=lambda: f"{prefix}:{uuid.uuid4()}")


def _grant_credits_field(**kwargs) -> forms.IntegerField:
    return forms.IntegerField(min_value=1, max_value=MAX_CREDITS, **kwargs)


def _grant_expiry_field() -> forms.DateTimeField:
    return forms.DateTimeField(
        label="Expires at", required=False,
        help_text="Optional: when the granted credits expire (YYYY-MM-DD HH:MM, server time "
                  "zone). Empty: they never expire.")


def _grant_reason_field(*, required: bool, help_text: str) -> forms.CharField:
    return forms.CharField(label="Reason", required=required, max_length=2000,
                           widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
                           help_text=help_text)


def _expiry_in_future_error() -> forms.ValidationError:
    return forms.ValidationError("The expiry must be in the future.", code="expiry_in_past")


class AccountCreateForm(forms.Form):
    """A new account, and (for staff who may write to the ledger) an optional first grant,
    written by `account_create`."""

    address = forms.CharField(
        max_length=MAX_ADDRESS_LENGTH,
        widget=forms.TextInput(attrs={"size": 60, "autocomplete": "off",
                                      "placeholder": "0x… or another chain's address"}),
        help_text="In any case: EVM addresses are stored checksummed, other chains' addresses "
                  "as typed.")
    grant_credits = _grant_credits_field(
        label="Initial grant (credits)", required=False,
        help_text="Optional: whole credits granted to the new account (a grant entry).")
    grant_expires_at = _grant_expiry_field()
    grant_reason = _grant_reason_field(
        required=False, help_text="Required with an initial grant: why the credits are "
                                  "granted (kept in the account's history with your user name).")
    reference = _one_time_reference("admin-account-add")

    GRANT_FIELDS = ("grant_credits", "grant_expires_at", "grant_reason", "reference")

    def __init__(self, *args, allow_grant: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not allow_grant:
            for name in self.GRANT_FIELDS:
                del self.fields[name]

    @property
    def allows_grant(self) -> bool:
        return "grant_credits" in self.fields

    def clean_address(self) -> str:
        try:
            address = normalize_address(self.cleaned_data["address"])
        except InvalidAddress as exc:
            raise forms.ValidationError(str(exc), code="invalid_address") from exc
        if (existing := account_by_address(address=address)) is not None:
            raise account_exists_error(existing)
        return address

    def clean_grant_expires_at(self):
        expires_at = self.cleaned_data.get("grant_expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            raise _expiry_in_future_error()
        return expires_at

    def clean(self):
        cleaned = super().clean()
        if not self.allows_grant or self.has_error("grant_credits"):
            return cleaned
        if cleaned.get("grant_credits") is None:
            for name in ("grant_expires_at", "grant_reason"):
                if cleaned.get(name):
                    self.add_error(name, forms.ValidationError(
                        "Only with an initial grant: give its credits, or leave this empty.",
                        code="grant_missing"))
        elif not cleaned.get("grant_reason"):
            self.add_error("grant_reason", forms.ValidationError(
                "Say why the credits are granted.", code="required"))
        return cleaned


class CreditGrantForm(forms.Form):
    """Credits granted by staff to one account, written by `grant_create` (a `grant` entry that
    opens one lot)."""

    amount = _grant_credits_field(label="Credits",
                                  help_text="Whole credits to add (more than zero).")
    expires_at = _grant_expiry_field()
    reason = _grant_reason_field(
        required=True, help_text="Why the credits are granted; kept in the account's history "
                                 "with your user name.")
    reference = _one_time_reference("admin-grant")

    def clean_expires_at(self):
        expires_at = self.cleaned_data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            raise _expiry_in_future_error()
        return expires_at


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
    reference = _one_time_reference("admin-adjust")

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
