"""The pricing admin: drafts edited with inlines, read-only published versions, and the publish,
copy, export, import and changes pages."""
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from pricing.aggregate import version_to_aggregate, version_to_compatible_gpus
from pricing.enums import VersionStatus
from pricing.models import PricingVersion, Product, Tier

pytestmark = pytest.mark.django_db


def _url(name: str, *args) -> str:
    return reverse(f"admin:pricing_pricingversion_{name}", args=args)


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _change_form_data(response) -> dict:
    """The POST a browser would send for the change page as rendered."""
    data = {}
    form = response.context["adminform"].form
    for name in form.fields:
        value = form[name].value()
        data[name] = "" if value is None else value
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        for subform in formset.forms:
            for name in subform.fields:
                value = subform[name].value()
                data[subform.add_prefix(name)] = "" if value is None else value
    return data


def _snapshot(version) -> tuple:
    version.refresh_from_db()
    return (version.name, version.status, version.notes, version_to_aggregate(version),
            version_to_compatible_gpus(version))


# --- list and change pages -----------------------------------------------------------------------

def test_the_changelist_lists_versions_and_marks_the_one_in_force(admin_client, default_version,
                                                                  draft_version):
    response = admin_client.get(_url("changelist"))

    assert response.status_code == 200
    in_force = {v.pk: v.is_in_force for v in response.context["cl"].result_list}
    assert in_force == {default_version.pk: True, draft_version.pk: False}
    content = response.content.decode()
    assert "Default pricing (PRICING.md)" in content and "Draft under test" in content
    assert _url("import") in content


def test_the_change_page_of_a_draft_has_editable_inlines_and_a_publish_button(admin_client,
                                                                              draft_version):
    response = admin_client.get(_url("change", draft_version.pk))

    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="products-0-price_cu_credit_per_hour"' in content
    assert 'name="tiers-0-compute_units"' in content
    assert 'name="gpu_devices-0-device_id"' in content
    assert _url("publish", draft_version.pk) in content
    # prices are shown as the network writes them, not padded to 18 places
    assert 'value="0.17967489030626108"' in content


def test_saving_a_draft_updates_its_products_and_adds_a_tier(admin_client, draft_version,
                                                             admin_user):
    # given the change page as rendered, with one price changed and a tier added
    data = _change_form_data(admin_client.get(_url("change", draft_version.pk)))
    index = next(i for i in range(8) if data[f"products-{i}-product_type"] == "instance")
    data[f"products-{index}-price_cu_credit_per_hour"] = "15000.5"
    total = int(data["tiers-TOTAL_FORMS"])
    data.update({"tiers-TOTAL_FORMS": str(total + 1),
                 f"tiers-{total}-product_type": "instance",
                 f"tiers-{total}-tier_id": "tier-7", f"tiers-{total}-compute_units": "16",
                 f"tiers-{total}-model": "", f"tiers-{total}-vram_mib": "",
                 f"tiers-{total}-version": str(draft_version.pk)})

    # when it is saved
    response = admin_client.post(_url("change", draft_version.pk), data)

    # then the draft holds the new values, and history says who changed them
    assert response.status_code == 302, response.context and response.context["errors"]
    product = draft_version.products.get(product_type="instance")
    assert product.price_cu_credit_per_hour == Decimal("15000.5")
    assert draft_version.tiers.get(product_type="instance", tier_id="tier-7").compute_units == 16
    latest = Product.history.filter(id=product.pk).latest()
    assert (latest.history_type, latest.history_user) == ("~", admin_user)
    assert Tier.history.filter(tier_id="tier-7").get().history_user == admin_user


def test_a_draft_with_a_negative_price_is_not_saved(admin_client, draft_version):
    data = _change_form_data(admin_client.get(_url("change", draft_version.pk)))
    data["products-0-price_cu_hold"] = "-1"

    response = admin_client.post(_url("change", draft_version.pk), data)

    assert response.status_code == 200
    assert "Ensure this value is greater than or equal to 0" in response.content.decode()
    assert draft_version.products.filter(price_cu_hold__lt=0).count() == 0


def test_a_published_version_is_shown_read_only(admin_client, default_version):
    response = admin_client.get(_url("change", default_version.pk))

    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="products-0-price_cu_hold"' not in content
    assert 'name="name"' not in content
    assert 'name="_save"' not in content
    assert "0.17967489030626108" in content
    assert _url("publish", default_version.pk) not in content
    assert _url("copy", default_version.pk) in content


def test_posting_changes_to_a_published_version_changes_nothing(admin_client, default_version,
                                                                draft_version):
    # given a change form filled in as if the published version were a draft
    data = _change_form_data(admin_client.get(_url("change", draft_version.pk)))
    data["name"] = "Cheaper"
    data["products-0-price_cu_credit_per_hour"] = "1"
    for key in list(data):
        if key.endswith("-version"):
            data[key] = str(default_version.pk)
    before = _snapshot(default_version)

    response = admin_client.post(_url("change", default_version.pk), data)

    assert response.status_code == 403
    assert _snapshot(default_version) == before


def test_a_published_version_cannot_be_deleted(admin_client, default_version):
    # its delete page says why instead of "no permission" (tests/pricing/
    # test_published_version_delete.py)
    assert admin_client.get(_url("delete", default_version.pk)).status_code == 200
    assert admin_client.post(_url("delete", default_version.pk), {"post": "yes"}).status_code \
        == 200
    assert PricingVersion.objects.filter(pk=default_version.pk).exists()


def test_a_draft_can_be_deleted(admin_client, draft_version):
    response = admin_client.post(_url("delete", draft_version.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not PricingVersion.objects.filter(pk=draft_version.pk).exists()


def test_a_published_version_cannot_be_reverted_from_its_history(admin_client, now_published):
    version, draft_record = now_published

    page = admin_client.get(_url("simple_history", version.pk, draft_record.history_id))
    response = admin_client.post(_url("simple_history", version.pk, draft_record.history_id),
                                 {"name": "Reverted", "notes": ""})

    assert page.status_code == 200
    assert response.status_code == 403
    version.refresh_from_db()
    assert version.status == VersionStatus.PUBLISHED


@pytest.fixture
def now_published(draft_version, staff_user):
    """A version published through the service, and its history row from when it was a draft."""
    from pricing.services import pricing_version_publish

    draft_record = draft_version.history.get()
    return pricing_version_publish(version=draft_version, user=staff_user), draft_record


def test_a_new_empty_draft_can_be_added(admin_client, default_version):
    data = {"name": "From scratch", "notes": ""}
    for prefix in ("products", "tiers", "gpu_devices", "payment_rules"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0",
                     f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"})

    response = admin_client.post(_url("add"), data)

    assert response.status_code == 302
    assert PricingVersion.objects.get(name="From scratch").status == VersionStatus.DRAFT


def test_the_history_page_of_a_version_renders(admin_client, default_version):
    assert admin_client.get(_url("history", default_version.pk)).status_code == 200


# --- publish -------------------------------------------------------------------------------------

def test_the_publish_page_asks_for_the_effective_date_and_names_the_version_in_force(
        admin_client, default_version, draft_version):
    response = admin_client.get(_url("publish", draft_version.pk))

    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="effective_from"' in content and 'type="datetime-local"' in content
    assert "Default pricing (PRICING.md)" in content
    assert response.context["errors"] == []
    initial = response.context["form"].initial["effective_from"]
    assert abs(initial - timezone.now()) < timedelta(minutes=1)


def test_publishing_from_the_confirmation_page_puts_the_draft_in_force(admin_client, admin_user,
                                                                     default_version,
                                                                     draft_version):
    response = admin_client.post(_url("publish", draft_version.pk), {"effective_from": ""})

    assert response.status_code == 302
    assert response.url == _url("change", draft_version.pk)
    draft_version.refresh_from_db()
    assert draft_version.status == VersionStatus.PUBLISHED
    assert draft_version.published_by == admin_user
    assert "is published and in force now" in _messages(response)[0]


def test_a_version_can_be_scheduled_from_the_confirmation_page(admin_client, draft_version):
    when = (timezone.now() + timedelta(days=3)).replace(microsecond=0)

    response = admin_client.post(_url("publish", draft_version.pk),
                                 {"effective_from": when.strftime("%Y-%m-%dT%H:%M:%S")})

    assert response.status_code == 302
    draft_version.refresh_from_db()
    assert draft_version.effective_from == when


def test_the_publish_page_refuses_a_date_in_the_past_with_a_clear_error(admin_client,
                                                                      draft_version):
    response = admin_client.post(_url("publish", draft_version.pk),
                                 {"effective_from": "2024-01-01T00:00:00"})

    assert response.status_code == 200
    assert "is in the past" in response.content.decode()
    draft_version.refresh_from_db()
    assert draft_version.status == VersionStatus.DRAFT


def test_the_publish_page_lists_every_problem_of_an_incomplete_draft(admin_client,
                                                                   draft_version):
    draft_version.products.filter(product_type="storage").delete()
    draft_version.products.filter(product_type="instance").update(cu_vcpus=None)

    page = admin_client.get(_url("publish", draft_version.pk))
    refused = admin_client.post(_url("publish", draft_version.pk), {"effective_from": ""})

    problems = ["storage: missing (every product type but web3_hosting must be priced)",
                "instance.compute_unit.vcpus: missing"]
    for response in (page, refused):
        assert response.status_code == 200
        assert response.context["errors"] == problems
        assert "storage: missing" in response.content.decode()
    draft_version.refresh_from_db()
    assert draft_version.status == VersionStatus.DRAFT


def test_the_publish_page_of_a_published_version_sends_back_with_a_message(admin_client,
                                                                         default_version):
    response = admin_client.get(_url("publish", default_version.pk))

    assert response.status_code == 302
    assert "only a draft can be published" in _messages(response)[0]


def test_a_missing_version_is_a_redirect_not_an_error(admin_client, db):
    response = admin_client.get(_url("publish", 987654))

    assert response.status_code == 302


# --- copy ----------------------------------------------------------------------------------------

def test_copying_from_the_change_page_creates_a_draft(admin_client, admin_user,
                                                      default_version):
    page = admin_client.get(_url("copy", default_version.pk))
    response = admin_client.post(_url("copy", default_version.pk), {"name": "May prices"})

    assert page.status_code == 200
    copy = PricingVersion.objects.get(name="May prices")
    assert response.status_code == 302 and response.url == _url("change", copy.pk)
    assert (copy.status, copy.copied_from, copy.history.get().history_user) == (
        VersionStatus.DRAFT, default_version, admin_user)
    assert version_to_aggregate(copy) == version_to_aggregate(default_version)


def test_the_copy_action_copies_each_selected_version(admin_client, default_version,
                                                      draft_version):
    response = admin_client.post(_url("changelist"), {
        "action": "copy_to_new_draft", "_selected_action": [default_version.pk,
                                                            draft_version.pk]})

    assert response.status_code == 302
    assert set(PricingVersion.objects.filter(copied_from__isnull=False)
               .values_list("copied_from", flat=True)) == {default_version.pk, draft_version.pk}
    # several copies: back to the list, with a link to each new draft
    assert response.url == _url("changelist")
    listed = admin_client.get(response.url).content.decode()
    for copy in PricingVersion.objects.filter(copied_from__isnull=False):
        assert f'copied to the new draft <a href="{_url("change", copy.pk)}">“{copy.name}”</a>' \
            in listed


def test_the_copy_action_on_one_version_opens_the_new_draft(admin_client, admin_user,
                                                            default_version):
    response = admin_client.post(_url("changelist"), {
        "action": "copy_to_new_draft", "_selected_action": [default_version.pk]}, follow=True)

    copy = PricingVersion.objects.get(copied_from=default_version)
    assert response.redirect_chain == [(_url("change", copy.pk), 302)]
    assert (copy.status, copy.history.get().history_user) == (VersionStatus.DRAFT, admin_user)
    assert _messages(response) == [f"New draft “{copy.name}” copied from "
                                   f"“{default_version.name}”. Edit it below, then publish it."]
    assert 'name="products-0-price_cu_hold"' in response.content.decode()  # editable


# --- export --------------------------------------------------------------------------------------

def test_export_downloads_the_pricing_aggregate(admin_client, default_version):
    response = admin_client.get(_url("export", default_version.pk))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "attachment" in response["Content-Disposition"]
    assert json.loads(response.content) == version_to_aggregate(default_version)


def test_export_of_the_gpu_catalogue_has_the_settings_shape(admin_client, default_version):
    response = admin_client.get(_url("export", default_version.pk) + "?shape=settings")

    document = json.loads(response.content)
    assert list(document) == ["compatible_gpus"]
    assert len(document["compatible_gpus"]) == 18


# --- import --------------------------------------------------------------------------------------

def _upload(name: str, document) -> SimpleUploadedFile:
    text = document if isinstance(document, str) else json.dumps(document, default=str)
    return SimpleUploadedFile(name, text.encode(), content_type="application/json")


def test_the_import_page_renders(admin_client, db):
    response = admin_client.get(_url("import"))

    assert response.status_code == 200
    assert 'type="file"' in response.content.decode()


def test_importing_json_that_does_not_parse_shows_where_and_creates_nothing(admin_client, db):
    before = PricingVersion.objects.count()

    response = admin_client.post(_url("import"), {
        "name": "Broken", "pricing_file": _upload("pricing.json", '{"program": {,}}')})

    assert response.status_code == 200
    assert "not valid JSON: Expecting property name enclosed in double quotes (line 1 column " \
           "14)" in response.content.decode()
    assert PricingVersion.objects.count() == before


def test_importing_an_invalid_aggregate_lists_every_problem(admin_client, pricing_aggregate,
                                                            compatible_gpus):
    pricing_aggregate["instance"]["price"]["compute_unit"]["credit"] = "abc"
    del pricing_aggregate["storage"]
    compatible_gpus.append({"model": "RTX 5090", "device_id": "10de:2685"})
    before = PricingVersion.objects.count()

    response = admin_client.post(_url("import"), {
        "name": "Broken", "pricing_json": json.dumps(pricing_aggregate, default=str),
        "settings_file": _upload("settings.json", {"compatible_gpus": compatible_gpus})})

    assert response.status_code == 200
    assert len(response.context["errors"]) == 3
    content = response.content.decode()
    assert "Nothing was imported: 3 problems found." in content
    assert "instance.price.compute_unit.credit: &quot;abc&quot; is not a decimal number" \
           in content
    assert "is listed twice" in content
    assert PricingVersion.objects.count() == before


def test_importing_without_any_pricing_document_asks_for_one(admin_client, db):
    response = admin_client.post(_url("import"), {"name": "Empty"})

    assert response.status_code == 200
    assert "Give the pricing JSON as a file or as text." in response.content.decode()


def test_importing_a_valid_upload_creates_a_draft(admin_client, admin_user, pricing_aggregate,
                                                  compatible_gpus):
    response = admin_client.post(_url("import"), {
        "name": "Network pricing", "notes": "live",
        "pricing_file": _upload("pricing.json", {"data": {"pricing": pricing_aggregate}}),
        "settings_json": json.dumps({"data": {"settings": {"compatible_gpus": compatible_gpus}}}),
    })

    version = PricingVersion.objects.get(name="Network pricing")
    assert response.status_code == 302 and response.url == _url("change", version.pk)
    assert version.status == VersionStatus.DRAFT
    assert (version.products.count(), version.gpu_devices.count()) == (8, 18)
    assert version.history.get().history_user == admin_user


def test_an_exported_version_imports_back_through_the_admin_unchanged(admin_client,
                                                                    default_version):
    pricing = admin_client.get(_url("export", default_version.pk)).content
    settings = admin_client.get(_url("export", default_version.pk) + "?shape=settings").content

    admin_client.post(_url("import"), {
        "name": "Round trip", "pricing_file": SimpleUploadedFile("p.json", pricing),
        "settings_file": SimpleUploadedFile("s.json", settings)})

    copy = PricingVersion.objects.get(name="Round trip")
    assert version_to_aggregate(copy) == version_to_aggregate(default_version)
    assert version_to_compatible_gpus(copy) == version_to_compatible_gpus(default_version)


def test_import_warnings_are_shown_as_messages(admin_client, pricing_aggregate,
                                               compatible_gpus):
    pricing_aggregate["instance_tpu"] = {"price": {}}

    response = admin_client.post(_url("import"), {
        "name": "With TPU", "pricing_json": json.dumps(pricing_aggregate, default=str),
        "settings_json": json.dumps(compatible_gpus)}, follow=True)

    assert "instance_tpu: unknown product type, ignored" in [
        str(m) for m in response.context["messages"]]


# --- changes and other lists ---------------------------------------------------------------------

def test_the_changes_page_shows_who_changed_what(admin_client, staff_user, draft_version):
    product = draft_version.products.get(product_type="instance")
    product.price_cu_hold = Decimal("1200")
    product._history_user = staff_user
    product.save()

    response = admin_client.get(_url("changes", draft_version.pk))

    assert response.status_code == 200
    first = response.context["rows"][0]
    assert (first["what"], first["action"], first["user"]) == ("product instance", "changed",
                                                               staff_user)
    assert first["changes"] == ["price_cu_hold: 1000 → 1200"]
    # the version, 8 products, 30 tiers, 18 GPU devices and 2 payment rules added; one change
    assert len(response.context["rows"]) == 1 + 8 + 30 + 18 + 2 + 1
    assert sum(row["what"].startswith("payment rule ") for row in response.context["rows"]) == 2


@pytest.mark.parametrize("model", ["product", "tier", "gpudevice"])
def test_the_read_only_lists_of_products_tiers_and_gpus_render(admin_client, default_version,
                                                               model):
    response = admin_client.get(reverse(f"admin:pricing_{model}_changelist"))

    assert response.status_code == 200
    assert response.context["cl"].result_count > 0
    assert not response.context["has_add_permission"]


def test_the_bulk_delete_action_deletes_no_published_version(admin_client, default_version,
                                                             draft_version):
    response = admin_client.post(_url("changelist"), {
        "action": "delete_selected", "post": "yes",
        "_selected_action": [default_version.pk, draft_version.pk]})

    assert response.status_code == 200
    assert "published versions are never deleted" in response.content.decode()
    assert PricingVersion.objects.filter(pk__in=[default_version.pk, draft_version.pk]).count() \
        == 2


@pytest.mark.parametrize("prefix, values", [
    ("tiers", {"product_type": "instance", "tier_id": "tier-1", "compute_units": "3",
               "model": "", "vram_mib": ""}),
    ("gpu_devices", {"device_id": "10de:2684", "model": "RTX 4090 again", "name": "",
                     "vendor": "NVIDIA"}),
    ("gpu_devices", {"device_id": "10DE:2999", "model": "Upper case", "name": "",
                     "vendor": "NVIDIA"}),
    ("products", {"product_type": "storage", "price_storage_hold_per_mib": "1"}),
])
def test_a_duplicate_or_malformed_row_in_a_draft_is_a_form_error_not_a_crash(
        admin_client, draft_version, prefix, values):
    data = _change_form_data(admin_client.get(_url("change", draft_version.pk)))
    total = int(data[f"{prefix}-TOTAL_FORMS"])
    data[f"{prefix}-TOTAL_FORMS"] = str(total + 1)
    data[f"{prefix}-{total}-version"] = str(draft_version.pk)
    data.update({f"{prefix}-{total}-{key}": value for key, value in values.items()})
    before = _snapshot(draft_version)

    response = admin_client.post(_url("change", draft_version.pk), data)

    assert response.status_code == 200
    assert response.context["errors"]
    assert _snapshot(draft_version) == before


def test_payment_rules_export_and_import_back_through_the_admin_unchanged(
        admin_client, network_payment_rules):
    # given: the version in force with the network's two rules, one of them moved
    from pricing.aggregate import version_to_payment_rules

    network_payment_rules.payment_rules.filter(name="credit_only").update(
        description="moved for the test")
    url = _url("export", network_payment_rules.pk)
    pricing = admin_client.get(url).content
    rules = admin_client.get(url + "?shape=payment_rules")
    assert rules.status_code == 200 and "payment-rules" in rules["Content-Disposition"]

    # when: imported back with its rules
    admin_client.post(_url("import"), {
        "name": "With rules", "pricing_file": SimpleUploadedFile("p.json", pricing),
        "payment_rules_file": SimpleUploadedFile("r.json", rules.content)})

    # then
    copy = PricingVersion.objects.get(name="With rules")
    assert version_to_payment_rules(copy) == version_to_payment_rules(network_payment_rules)
    assert json.loads(rules.content)["payment_rules"][1]["description"] == "moved for the test"


def test_the_networks_repeated_gpu_ids_import_through_the_admin_when_asked(
        admin_client, pricing_aggregate, compatible_gpus, default_version):
    # given: the network's settings aggregate lists a device id twice (the first wins there)
    repeated = {**compatible_gpus[0], "name": "Same id, second entry"}
    settings = {"compatible_gpus": [*compatible_gpus, repeated]}

    def post(**extra):
        return admin_client.post(_url("import"), {
            "pricing_file": _upload("p.json", pricing_aggregate),
            "settings_file": _upload("s.json", settings), **extra})

    # when: refused by default, read as the network reads it when asked
    post(name="Refused")
    post(name="First wins", gpu_first_wins="on")

    # then
    assert not PricingVersion.objects.filter(name="Refused").exists()
    imported = PricingVersion.objects.get(name="First wins")
    first = imported.gpu_devices.get(device_id=compatible_gpus[0]["device_id"])
    assert first.name == compatible_gpus[0]["name"]
