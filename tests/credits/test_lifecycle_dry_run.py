"""A dry run of the lifecycle records nothing: it uses no run id and never shows among runs."""
import pytest

from credits.models import LifecycleRun, LifecycleRunStatus
from credits.services.lifecycle import lifecycle_run

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_dry_run_uses_no_run_id_and_is_not_listed(ledger_resource_factory, account):
    # given: a live resource and one real run
    ledger_resource_factory(account)
    first = lifecycle_run()

    # when: a dry run, then another real run
    dry = lifecycle_run(dry_run=True)
    second = lifecycle_run()

    # then: the dry run reports its counts without a row; the real runs' ids follow each other
    assert dry.pk is None and dry.status == LifecycleRunStatus.SUCCEEDED
    assert dry.counts.resources == 1 and dry.resources == 1
    assert second.pk == first.pk + 1
    assert list(LifecycleRun.objects.values_list("pk", flat=True).order_by("pk")) == [
        first.pk, second.pk]
