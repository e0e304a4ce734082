"""The x-axis arithmetic: samples, minibatches and weight updates, for one update a minibatch and for MCEM's five."""

from aevb.training.sample_counts import SampleCounts


def test_one_update_a_minibatch_counts_its_m_samples():
    counts = SampleCounts(batch_size=100)
    assert counts.samples(3) == 300 and counts.minibatches_done(7) == 7
    assert counts.minibatches_to_reach(250) == 3 and counts.minibatches_to_reach(300) == 3
    assert counts.updates_for(1.0e7) == 100_000 and counts.updates_for(150) == 2


def test_each_of_mcems_updates_counts_the_minibatch_again():
    counts = SampleCounts(batch_size=100, updates_per_minibatch=5)
    assert counts.samples_per_minibatch == 500 and counts.samples(2) == 1000
    assert counts.minibatches_done(12) == 2 and counts.minibatches_spanning(12) == 3  # 12 updates: 2 whole minibatches
    assert counts.minibatches_to_reach(1001) == 3
    assert counts.updates_for(1000) == 10  # max_steps counts updates of M samples each: 2 minibatches of 5
