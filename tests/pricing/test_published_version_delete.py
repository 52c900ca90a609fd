"""Deleting a pricing version in the admin: a draft is deleted as before; a published (or
superseded) version never is. Its delete page says why (resources and charges were priced with
it) instead of Django's "no permission", and offers to copy it to a new draft, which opens."""
import re

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse

from pricing.enums import VersionStatus
from pricing.models import PricingVersion
from pricing.services import pricing_version_publish

pytestmark = pytest.mark.django_db

NEVER_DELETED = "published versions are never deleted or changed"


def _url(name: str, *args) -> str:
    return reverse(f"admin:pricing_pricingversion_{name}", args=args)


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _form_of(page: str, action: str) -> str:
    [form] = re.findall(rf'<form method="post" action="{re.escape(action)}">.*?</form>', page,
                        re.S)
    return form


def test_the_delete_page_of_a_published_version_says_why_and_offers_a_copy(admin_client,
                                                                           default_version):
    response = admin_client.get(_url("delete", default_version.pk))

    page = response.content.decode()
    assert response.status_code == 200
    assert f"“{default_version.name}” is published and in force: {NEVER_DELETED}" in page
    assert "Resources and charges were priced with it" in page
    copy_form = _form_of(page, _url("copy", default_version.pk))
    assert 'value="Copy to a new draft"' in copy_form
    assert f'value="Copy of {default_version.name}"' in copy_form
    assert "Yes, I’m sure" not in page and 'name="post"' not in page
    assert PricingVersion.objects.filter(pk=default_version.pk).exists()


def test_posting_a_delete_of_a_published_version_deletes_nothing(admin_client, default_version):
    response = admin_client.post(_url("delete", default_version.pk), {"post": "yes"})

    assert response.status_code == 200
    assert NEVER_DELETED in response.content.decode()
    default_version.refresh_from_db()
    assert default_version.status == VersionStatus.PUBLISHED


def test_the_copy_offered_opens_the_new_draft_with_a_message(admin_client, admin_user,
                                                             default_version):
    page = admin_client.get(_url("delete", default_version.pk)).content.decode()
    assert _form_of(page, _url("copy", default_version.pk))

    response = admin_client.post(_url("copy", default_version.pk),
                                 {"name": f"Copy of {default_version.name}"}, follow=True)

    copy = PricingVersion.objects.get(copied_from=default_version)
    assert response.redirect_chain == [(_url("change", copy.pk), 302)]
    assert (copy.status, copy.name) == (VersionStatus.DRAFT, f"Copy of {default_version.name}")
    assert _messages(response) == [f"New draft “{copy.name}” copied from "
                                   f"“{default_version.name}”. Edit it below, then publish it."]


def test_a_superseded_version_is_not_deleted_either(admin_client, staff_user, default_version,
                                                    draft_version):
    pricing_version_publish(version=draft_version, user=staff_user)
    default_version.refresh_from_db()
    assert default_version.status == VersionStatus.SUPERSEDED

    response = admin_client.post(_url("delete", default_version.pk), {"post": "yes"})

    page = response.content.decode()
    assert f"“{default_version.name}” is superseded: {NEVER_DELETED}" in page
    assert PricingVersion.objects.filter(pk=default_version.pk).exists()


def test_deleting_a_draft_still_asks_for_confirmation_then_deletes(admin_client, draft_version):
    confirm = admin_client.get(_url("delete", draft_version.pk))
    assert confirm.status_code == 200 and NEVER_DELETED not in confirm.content.decode()
    assert 'name="post"' in confirm.content.decode()

    response = admin_client.post(_url("delete", draft_version.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not PricingVersion.objects.filter(pk=draft_version.pk).exists()


def test_a_viewer_is_told_why_without_a_copy_offer(client, django_user_model, default_version):
    viewer = django_user_model.objects.create_user(username="viewer", password="unused",
                                                   is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_pricingversion"))
    client.force_login(viewer)

    response = client.get(_url("delete", default_version.pk))

    page = response.content.decode()
    assert response.status_code == 200 and NEVER_DELETED in page
    assert _url("copy", default_version.pk) not in page


def test_staff_who_cannot_see_pricing_versions_are_refused(client, django_user_model,
                                                           default_version):
    clerk = django_user_model.objects.create_user(username="clerk", password="unused",
                                                  is_staff=True)
    client.force_login(clerk)

    assert client.get(_url("delete", default_version.pk)).status_code == 403
