"""The admin's menu spells acronyms as such: "GPU devices", not "Gpu devices"."""
import re

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils.text import capfirst

pytestmark = pytest.mark.django_db

ACRONYMS = {"api", "cpu", "gpu", "id", "ip", "json", "payg", "url", "vm", "vram"}


def test_the_admin_index_lists_gpu_devices(client, staff_user):
    client.force_login(staff_user)

    page = client.get(reverse("admin:index")).content.decode()

    assert re.search(r">\s*GPU devices\s*<", page)
    assert "Gpu devices" not in page


def test_the_gpu_devices_list_names_its_rows_with_the_acronym(client, staff_user):
    client.force_login(staff_user)

    page = client.get(reverse("admin:pricing_gpudevice_changelist")).content.decode()

    assert re.search(r"<title>Select GPU device to (view|change) ", page)
    assert "Gpu device" not in page


def test_no_label_in_the_admin_menu_spells_an_acronym_in_lower_case():
    labels = [str(capfirst(model._meta.verbose_name_plural)) for model in admin.site._registry]

    misspelt = [label for label in labels
                if any(word.lower() in ACRONYMS and word != word.upper()
                       for word in re.findall(r"[A-Za-z]+", label))]

    assert "GPU devices" in labels
    assert misspelt == []
