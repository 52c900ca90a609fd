"""The scaling bench reduces its runs to µs per resource per size: every run, the best, the
median, the mean, each step's best, the batches timed alone and the growth from the size
before."""
import pytest

from tests.bench_module import lifecycle_scaling


def report(resources: int, total: float, meter: float, other: float,
           maintenance: float | None = None, batches: tuple[float, ...] = ()) -> dict:
    """The part of a `bench/lifecycle` report the scaling bench reads (no maintenance: the run
    was measured with autovacuum left running), with a tenth as many accounts as resources and
    `batches` timed alone, 1,000 accounts each."""
    return {"run": {"counts": {"resources": resources, "accounts": resources // 10},
                    "seconds_total": total, "seconds": {"meter": meter, "other": other},
                    "batches": [{"seconds": seconds, "accounts": 1_000} for seconds in batches]},
            "maintenance": None if maintenance is None else {"seconds": maintenance}}


def test_a_run_is_reduced_to_microseconds_per_resource_in_all_and_per_step():
    scaling = lifecycle_scaling()

    figures = scaling.per_resource(report(100_000, 1.5, 0.6, 0.2, maintenance=0.3,
                                          batches=(0.15, 0.2)))

    assert figures["total"] == pytest.approx(15.0)
    # 1,000 accounts of 10 resources each: 10,000 resources a batch
    assert figures["batches"] == [pytest.approx(15.0), pytest.approx(20.0)]
    assert figures["steps"] == {"meter": pytest.approx(6.0), "other": pytest.approx(2.0)}
    assert figures["maintenance"] == pytest.approx(3.0)
    assert scaling.per_resource(report(100_000, 1.5, 0.6, 0.2))["maintenance"] is None


def test_each_size_gets_its_best_median_step_bests_and_growth_from_the_size_before():
    scaling = lifecycle_scaling()
    runs = {
        1_000_000: [scaling.per_resource(report(1_000_000, seconds, meter, 3.0, maintenance,
                                                batches))
                    for seconds, meter, maintenance, batches
                    in ((18.0, 6.0, 2.5, (0.16, 0.17)), (16.5, 6.5, 2.0, (0.15, 0.18)),
                        (17.0, 5.5, 3.0, (0.19,)))],
        # one run measured with autovacuum running: no maintenance figure for the size
        100_000: [scaling.per_resource(report(100_000, seconds, 0.6, 0.4, maintenance, (batch,)))
                  for seconds, maintenance, batch in ((1.6, 0.2, 0.16), (1.5, None, 0.15),
                                                      (1.7, 0.3, 0.17))],
    }

    rows = scaling.summarise(runs)

    assert [row["resources"] for row in rows] == [100_000, 1_000_000]
    small, large = rows
    assert small["runs"] == pytest.approx([16.0, 15.0, 17.0])
    assert (small["best"], small["median"]) == (pytest.approx(15.0), pytest.approx(16.0))
    assert small["growth_best"] is None and small["growth_median"] is None
    # The best of each step, which need not come from the best run.
    assert large["steps"] == {"meter": pytest.approx(5.5), "other": pytest.approx(3.0)}
    assert large["maintenance"] == pytest.approx(2.0)
    assert small["maintenance"] is None
    assert large["growth_best"] == pytest.approx(16.5 / 15.0 - 1)
    assert large["growth_median"] == pytest.approx(17.0 / 16.0 - 1)
    assert (small["mean"], large["mean"]) == (pytest.approx(16.0), pytest.approx(51.5 / 3))
    assert large["growth_mean"] == pytest.approx(51.5 / 3 / 16.0 - 1)
    # The batches timed alone, all runs' together: 15, 16, 17 µs at 100 K; 15, 16, 17, 18,
    # 19 at 1 M (lower quartile inclusive of the extremes).
    assert (small["batches"], large["batches"]) == (3, 5)
    assert (small["batch_median"], large["batch_median"]) == (pytest.approx(16.0),
                                                              pytest.approx(17.0))
    assert (small["batch_lower_quartile"], large["batch_lower_quartile"]) == \
        (pytest.approx(15.5), pytest.approx(16.0))
    assert large["growth_batch_median"] == pytest.approx(17.0 / 16.0 - 1)
    assert large["growth_batch_lower_quartile"] == pytest.approx(16.0 / 15.5 - 1)
    table = scaling.markdown(rows)
    assert ("| 100,000 | 16.00, 15.00, 17.00 | 15.00 | 16.00 | 16.00 | — | 15.50, 16.00 of 3 "
            "| 6.00 | 4.00 | — |") in table
    assert ("| 1,000,000 | 18.00, 16.50, 17.00 | 16.50 | 17.00 | 17.17 | +10.0 %, +6.2 %, "
            "+7.3 % | 16.00 (+3.2 %), 17.00 (+6.2 %) of 5 | 5.50 | 3.00 | 2.00 |") in table
