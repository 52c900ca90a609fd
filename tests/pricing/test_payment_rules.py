"""Payment rules of a pricing version: the one pure rule at, before and after each of the
network's cut-offs; the default rules (data migration); copy, import and export; the editor's
inline, editable on a draft and read-only once published; the selector and its cache."""
import importlib
from datetime import datetime, timedelta, timezone

import pytest
from django.apps import apps as django_apps
from django.db import connection

from pricing import services
from pricing.aggregate import (
    AggregateInvalid,
    parse_payment_rules,
    payment_rule_to_document,
    version_to_payment_rules,
)
from pricing.enums import PaymentType, ProductType, VersionStatus
from pricing.models import PaymentRule, PricingVersion
from pricing.rules import (
    CREDIT_ONLY_CUTOFF,
    DEFAULT_PAYMENT_RULES,
    HOLD_AND_STREAM_CUTOFF,
    PaymentRuleSpec,
    payment_type_refusal,
)
from pricing.selectors import (
    payment_rules_of,
    payment_type_acceptance,
    pricing_cache_invalidate,
    pricing_in_force,
)
from pricing.services import (
    PricingVersionInvalid,
    pricing_version_copy,
    pricing_version_import,
    pricing_version_publish,
)

from .test_admin import _change_form_data, _url

pytestmark = pytest.mark.django_db

UTC = timezone.utc
D1 = datetime(2026, 3, 11, tzinfo=UTC)  # pyaleph HOLD_AND_STREAM_CUTOFF_TIMESTAMP 1773187200
D2 = datetime(2027, 1, 1, tzinfo=UTC)  # pyaleph CREDIT_ONLY_CUTOFF_TIMESTAMP 1798761600
SECOND = timedelta(seconds=1)
INSTANCES_AND_PERSISTENT = ["program_persistent", "instance", "instance_confidential",
                            "instance_gpu_standard", "instance_gpu_premium"]
OTHER_PRODUCTS = ["storage", "program", "web3_hosting"]
NOT_CREDIT = ["hold", "superfluid"]


def _refused(product_type, payment_type, at, rules=DEFAULT_PAYMENT_RULES):
    return payment_type_refusal(rules, product_type, payment_type, at)


@pytest.fixture
def network_rules():
    """The network's rules as a payment-rules document."""
    return {"payment_rules": [payment_rule_to_document(rule) for rule in DEFAULT_PAYMENT_RULES]}


@pytest.fixture
def draft(db, pricing_aggregate, compatible_gpus, network_rules, staff_user):
    """A draft with the default prices and the network's payment rules, whatever the version
    in force holds."""
    return pricing_version_import(aggregate=pricing_aggregate, compatible_gpus=compatible_gpus,
                                  payment_rules=network_rules, name="Draft with rules",
                                  user=staff_user)


@pytest.fixture
def published(draft):
    """That draft published now: the version in force."""
    version = pricing_version_publish(version=draft)
    pricing_cache_invalidate()
    return version


# --- the network's dates --------------------------------------------------------------------------

def test_the_default_dates_are_the_networks_unix_timestamps():
    assert HOLD_AND_STREAM_CUTOFF == datetime.fromtimestamp(1773187200, UTC) == D1
    assert CREDIT_ONLY_CUTOFF == datetime.fromtimestamp(1798761600, UTC) == D2


# --- the pure rule: before, at and after each date ---------------------------------------------

@pytest.mark.parametrize("product_type", INSTANCES_AND_PERSISTENT)
@pytest.mark.parametrize("payment_type", NOT_CREDIT)
def test_hold_and_stream_are_accepted_for_instances_until_the_first_cutoff(product_type,
                                                                           payment_type):
    assert _refused(product_type, payment_type, D1 - SECOND) is None


@pytest.mark.parametrize("product_type", INSTANCES_AND_PERSISTENT)
@pytest.mark.parametrize("payment_type", NOT_CREDIT)
@pytest.mark.parametrize("at", [D1, D1 + SECOND, D2, D2 + timedelta(days=400)])
def test_hold_and_stream_are_refused_for_instances_from_the_first_cutoff_on(product_type,
                                                                           payment_type, at):
    refusal = _refused(product_type, payment_type, at)

    # named after the rule in force the longest, even once credit_only applies too
    assert (refusal.rule, refusal.not_accepted_from) == ("hold_and_stream_deprecated", D1)
    assert (refusal.product_type, refusal.payment_type) == (product_type, payment_type)
    assert refusal.accepted_payment_types == ("credit",)


@pytest.mark.parametrize("product_type", OTHER_PRODUCTS)
@pytest.mark.parametrize("payment_type", NOT_CREDIT)
def test_stores_and_on_demand_programs_keep_hold_and_stream_until_the_second_cutoff(
        product_type, payment_type):
    assert _refused(product_type, payment_type, D1) is None
    assert _refused(product_type, payment_type, D2 - SECOND) is None

    refusal = _refused(product_type, payment_type, D2)

    assert (refusal.rule, refusal.not_accepted_from) == ("credit_only", D2)
    assert refusal.accepted_payment_types == ("credit",)


@pytest.mark.parametrize("product_type", [p.value for p in ProductType])
@pytest.mark.parametrize("at", [D1 - SECOND, D1, D2, D2 + timedelta(days=3650)])
def test_credit_is_accepted_for_every_product_at_every_date(product_type, at):
    assert _refused(product_type, "credit", at) is None


def test_the_message_names_the_payment_type_the_product_the_date_the_rule_and_the_way_out():
    refusal = _refused("instance", "hold", D1 + timedelta(days=30))

    assert refusal.message == (
        "hold payment is not accepted for instance since 2026-03-11 00:00 UTC (payment rule "
        "“hold_and_stream_deprecated”); pay with credit.")
    assert refusal.details() == {
        "rule": "hold_and_stream_deprecated", "product_type": "instance",
        "payment_type": "hold", "not_accepted_from": "2026-03-11T00:00:00+00:00",
        "accepted_payment_types": ["credit"]}


def test_without_rules_every_payment_type_is_accepted():
    assert _refused("instance", "hold", D2, rules=()) is None


def test_a_product_refusing_every_payment_type_says_none_is_accepted():
    rules = [PaymentRuleSpec(name="closed", product_types=("storage",),
                             payment_types=("hold", "superfluid", "credit"),
                             not_accepted_from=D1)]

    refusal = _refused("storage", "credit", D1, rules=rules)

    assert refusal.accepted_payment_types == ()
    assert refusal.message.endswith("no payment type is accepted for it.")


def test_of_two_rules_refusing_the_same_payment_the_earliest_is_named():
    late = PaymentRuleSpec(name="late", product_types=("program",), payment_types=("hold",),
                           not_accepted_from=D2)
    early = PaymentRuleSpec(name="early", product_types=("program",), payment_types=("hold",),
                            not_accepted_from=D1)

    assert _refused("program", "hold", D2, rules=[late, early]).rule == "early"
    assert _refused("program", "hold", D1, rules=[late, early]).rule == "early"
    assert _refused("program", "superfluid", D2, rules=[late, early]) is None


# --- the default rules: data migration -----------------------------------------------------------

def _migration():
    return importlib.import_module("pricing.migrations.0007_default_payment_rules")


def test_the_migration_writes_the_same_rules_as_the_defaults():
    written = [PaymentRuleSpec(**{**rule, "product_types": tuple(rule["product_types"]),
                                  "payment_types": tuple(rule["payment_types"])})
               for rule in _migration().RULES]

    assert written == list(DEFAULT_PAYMENT_RULES)


def test_the_migration_gives_versions_without_rules_the_networks_and_leaves_others_alone():
    # given a published version without rules and a draft with a rule of its own
    bare = PricingVersion.objects.create(name="Old", status=VersionStatus.PUBLISHED,
                                         effective_from=D1, published_at=D1)
    ruled = PricingVersion.objects.create(name="Ruled")
    PaymentRule.objects.create(version=ruled, name="own", product_types=["storage"],
                               payment_types=["hold"], not_accepted_from=D2)

    # when the migration runs
    _migration().add_payment_rules(django_apps, connection.schema_editor())

    # then the bare version has the network's two rules, with history, and the other only its own
    assert [rule.name for rule in bare.payment_rules.order_by("not_accepted_from")] == [
        "hold_and_stream_deprecated", "credit_only"]
    assert list(payment_rules_of(bare)) == list(DEFAULT_PAYMENT_RULES)
    assert PaymentRule.history.filter(version_id=bare.pk).count() == 2
    assert [rule.name for rule in ruled.payment_rules.all()] == ["own"]


# --- copy, import, export ------------------------------------------------------------------------

def _rules_of(version):
    return version_to_payment_rules(version)["payment_rules"]


def test_a_copy_has_the_payment_rules_of_its_source(draft, staff_user):
    # given a draft whose first rule was moved a year later
    draft.payment_rules.filter(name="hold_and_stream_deprecated").update(
        not_accepted_from=D1 + timedelta(days=365))

    copy = pricing_version_copy(version=draft, user=staff_user)

    assert _rules_of(copy) == _rules_of(draft)
    assert _rules_of(copy)[0]["not_accepted_from"] == "2027-01-01T00:00:00Z"
    record = PaymentRule.history.filter(version_id=copy.pk).first()
    assert (record.history_user, record.history_change_reason) == (
        staff_user, f"copied from version {draft.pk}")


def test_the_export_reads_back_as_the_same_rules(draft):
    exported = version_to_payment_rules(draft)

    assert exported == {"payment_rules": [
        {"name": "hold_and_stream_deprecated", "product_types": INSTANCES_AND_PERSISTENT,
         "payment_types": ["hold", "superfluid"], "not_accepted_from": "2026-03-11T00:00:00Z",
         "description": DEFAULT_PAYMENT_RULES[0].description},
        {"name": "credit_only", "product_types": [p.value for p in ProductType],
         "payment_types": ["hold", "superfluid"], "not_accepted_from": "2027-01-01T00:00:00Z",
         "description": DEFAULT_PAYMENT_RULES[1].description},
    ]}
    assert list(parse_payment_rules(exported)) == list(payment_rules_of(draft))


def test_import_takes_the_payment_rules_given(pricing_aggregate, compatible_gpus):
    document = {"payment_rules": [{"name": "gpu-credit-only",
                                   "product_types": ["instance_gpu_premium"],
                                   "payment_types": ["superfluid", "hold"],
                                   "not_accepted_from": "2026-06-01T12:00:00+02:00"}]}

    version = pricing_version_import(aggregate=pricing_aggregate,
                                     compatible_gpus=compatible_gpus, payment_rules=document,
                                     name="With rules")

    # payment types in their enum order, the date in UTC
    assert _rules_of(version) == [{"name": "gpu-credit-only",
                                   "product_types": ["instance_gpu_premium"],
                                   "payment_types": ["hold", "superfluid"],
                                   "not_accepted_from": "2026-06-01T10:00:00Z"}]


def test_an_import_of_an_export_gives_the_same_rules(draft, pricing_aggregate):
    exported = version_to_payment_rules(draft)

    version = pricing_version_import(aggregate=pricing_aggregate, payment_rules=exported,
                                     name="Round trip")

    assert version_to_payment_rules(version) == exported


def test_import_without_rules_copies_those_of_the_version_in_force(default_version,
                                                                   pricing_aggregate):
    # given the version in force refuses hold for storage from a date of its own
    default_version.payment_rules.all().delete()
    PaymentRule.objects.create(version=default_version, name="storage-hold",
                               product_types=["storage"], payment_types=["hold"],
                               not_accepted_from=D1)
    pricing_cache_invalidate()

    version = pricing_version_import(aggregate=pricing_aggregate, name="Imported")

    assert _rules_of(version) == [{"name": "storage-hold", "product_types": ["storage"],
                                   "payment_types": ["hold"],
                                   "not_accepted_from": "2026-03-11T00:00:00Z"}]
    assert version.import_warnings == []


def test_import_without_rules_nor_a_version_in_force_takes_the_networks(pricing_aggregate,
                                                                        monkeypatch):
    monkeypatch.setattr(services, "pricing_version_in_force", lambda: None)

    version = pricing_version_import(aggregate=pricing_aggregate, name="First")

    assert list(payment_rules_of(version)) == list(DEFAULT_PAYMENT_RULES)


def test_every_problem_of_a_rules_document_is_listed_and_nothing_is_imported(
        pricing_aggregate):
    document = {"payment_rules": [
        {"name": "a", "product_types": ["vm"], "payment_types": [],
         "not_accepted_from": "2026-03-11T00:00:00", "colour": "red"},
        {"name": "a", "product_types": ["storage", "storage"], "payment_types": ["hold"],
         "not_accepted_from": "soon"},
        {"name": "has space", "product_types": ["storage"], "payment_types": ["cash"],
         "not_accepted_from": "2026-03-11T00:00:00Z"},
    ]}
    before = (PricingVersion.objects.count(), PaymentRule.objects.count())

    with pytest.raises(PricingVersionInvalid) as caught:
        pricing_version_import(aggregate=pricing_aggregate, payment_rules=document,
                               name="Broken rules")

    assert caught.value.errors == [
        "payment_rules[0].colour: unknown key (expected one of description, name, "
        "not_accepted_from, payment_types, product_types)",
        'payment_rules[0].product_types[0]: "vm" is not a product type (expected one of '
        "storage, web3_hosting, program, program_persistent, instance, instance_confidential, "
        "instance_gpu_standard, instance_gpu_premium)",
        "payment_rules[0].payment_types: is a list, expected a non-empty list of payment types",
        'payment_rules[0].not_accepted_from: "2026-03-11T00:00:00" has no time zone (add Z or '
        "+00:00)",
        'payment_rules[1].name: "a" is already used by payment_rules[0]',
        'payment_rules[1].product_types[1]: "storage" is listed twice',
        'payment_rules[1].not_accepted_from: "soon" is not an ISO 8601 date and time (e.g. '
        "2027-01-01T00:00:00Z)",
        'payment_rules[2].name: "has space" may hold only letters, digits, - and _',
        'payment_rules[2].payment_types[0]: "cash" is not a payment type (expected one of '
        "hold, superfluid, credit)",
    ]
    assert (PricingVersion.objects.count(), PaymentRule.objects.count()) == before


@pytest.mark.parametrize("document", [None, 3, "rules", {"rules": []}])
def test_a_rules_document_that_is_not_a_list_of_rules_is_refused(document):
    with pytest.raises(AggregateInvalid) as caught:
        parse_payment_rules(document)

    assert len(caught.value.errors) == 1


def test_a_draft_with_a_broken_rule_is_not_published(draft):
    # given a rule saved through the ORM with a product type that does not exist
    draft.payment_rules.filter(name="credit_only").update(product_types=["vm"])

    with pytest.raises(PricingVersionInvalid) as caught:
        pricing_version_publish(version=draft)

    assert caught.value.errors == [
        'payment_rules[1].product_types[0]: "vm" is not a product type (expected one of '
        "storage, web3_hosting, program, program_persistent, instance, instance_confidential, "
        "instance_gpu_standard, instance_gpu_premium)"]
    draft.refresh_from_db()
    assert draft.status == VersionStatus.DRAFT


def test_a_spec_and_its_row_export_alike(draft):
    row = draft.payment_rules.get(name="credit_only")

    assert payment_rule_to_document(row) == payment_rule_to_document(DEFAULT_PAYMENT_RULES[1])


# --- the selector --------------------------------------------------------------------------------

def test_acceptance_follows_the_rules_of_the_version_asked(draft):
    draft.payment_rules.filter(name="hold_and_stream_deprecated").update(
        not_accepted_from=D2 + timedelta(days=365))

    before = payment_type_acceptance(version=draft, product_type="instance",
                                     payment_type="hold", at=D2 - SECOND)
    after = payment_type_acceptance(version=draft, product_type="instance",
                                    payment_type="hold", at=D2)

    assert before.accepted and before.refusal is None
    assert (after.accepted, after.refusal.rule) == (False, "credit_only")


def test_acceptance_under_the_version_in_force_makes_no_query_once_warm(
        published, django_assert_num_queries):
    version, _ = pricing_in_force()
    assert version.pk == published.pk

    with django_assert_num_queries(0):
        acceptance = payment_type_acceptance(version=version, product_type="instance",
                                             payment_type="superfluid", at=D1)

    assert acceptance.refusal.rule == "hold_and_stream_deprecated"


# --- the editor ----------------------------------------------------------------------------------

def test_a_drafts_rules_are_editable_with_a_box_per_product_and_payment_type(admin_client,
                                                                           draft):
    content = admin_client.get(_url("change", draft.pk)).content.decode()

    assert 'name="payment_rules-0-name"' in content
    assert 'type="datetime-local" name="payment_rules-0-not_accepted_from"' in content
    assert 'value="2026-03-11T00:00:00"' in content
    for value in [p.value for p in ProductType]:
        assert f'name="payment_rules-1-product_types" value="{value}"' in content
    for value in [p.value for p in PaymentType]:
        assert f'name="payment_rules-1-payment_types" value="{value}"' in content


def test_staff_move_a_rules_date_and_add_credit_only_for_gpus_on_a_draft(admin_client,
                                                                        draft,
                                                                        admin_user):
    # given the change page as rendered, the first rule moved and its product types narrowed
    data = _change_form_data(admin_client.get(_url("change", draft.pk)))
    index = next(i for i in range(2)
                 if data[f"payment_rules-{i}-name"] == "hold_and_stream_deprecated")
    data[f"payment_rules-{index}-not_accepted_from"] = "2026-09-01T00:00:00"
    data[f"payment_rules-{index}-product_types"] = ["instance", "instance_confidential"]

    response = admin_client.post(_url("change", draft.pk), data)

    assert response.status_code == 302, response.context and response.context["errors"]
    rule = draft.payment_rules.get(name="hold_and_stream_deprecated")
    assert (rule.not_accepted_from, rule.product_types) == (
        datetime(2026, 9, 1, tzinfo=UTC), ["instance", "instance_confidential"])
    assert PaymentRule.history.filter(id=rule.pk).latest().history_user == admin_user
    # and the engine's answer follows: a persistent program may pay by hold again
    assert payment_type_acceptance(version=draft, product_type="program_persistent",
                                   payment_type="hold", at=datetime(2026, 10, 1,
                                                                    tzinfo=UTC)).accepted


def test_a_rule_without_a_product_type_is_not_saved(admin_client, draft):
    data = _change_form_data(admin_client.get(_url("change", draft.pk)))
    data["payment_rules-0-product_types"] = []

    response = admin_client.post(_url("change", draft.pk), data)

    assert response.status_code == 200
    assert "This field is required." in response.content.decode()
    assert all(rule.product_types for rule in draft.payment_rules.all())


def test_a_published_versions_rules_are_shown_read_only(admin_client, published):
    content = admin_client.get(_url("change", published.pk)).content.decode()

    assert "Payment rules" in content
    assert 'name="payment_rules-0-name"' not in content
    assert "hold_and_stream_deprecated" in content and "credit_only" in content
    assert "2026-03-11 00:00 UTC" in content and "2027-01-01 00:00 UTC" in content
    assert "Instance (GPU premium)" in content and "Stream (Superfluid)" in content


def test_posting_rule_changes_to_a_published_version_changes_nothing(admin_client,
                                                                     published):
    # given a change form of its copy, pointed at the published version
    copy = pricing_version_copy(version=published)
    data = _change_form_data(admin_client.get(_url("change", copy.pk)))
    data["payment_rules-0-not_accepted_from"] = "2031-01-01T00:00:00"
    for key in list(data):
        if key.endswith("-version"):
            data[key] = str(published.pk)
    before = _rules_of(published)

    response = admin_client.post(_url("change", published.pk), data)

    assert response.status_code == 403
    assert _rules_of(published) == before


