"""The held-out eval pool: every image shown once, in a fresh secret order, and mapped back exactly."""

import numpy as np

from cxrbench.runner.eval_pool import draw_pool


def test_pool_round_trip_and_neutral_shards():
    sets = {"internal_test": np.arange(10)[:, None] * 10, "external:site-b": 1000 + np.arange(7)[:, None],
            "external:site-c": 5000 + np.arange(5)[:, None]}
    pool = draw_pool({k: len(v) for k, v in sets.items()}, shard_images=8)
    shards = pool.shards()
    assert [s[0] for s in shards] == ["pool-0", "pool-1", "pool-2"]
    assert [b - a for _, a, b in shards] == [8, 8, 6]  # one size but the last: the counts name no eval set
    shown = np.concatenate([pool.images(sets, a, b) for _, a, b in shards])
    assert sorted(shown[:, 0]) == sorted(np.concatenate(list(sets.values()))[:, 0])
    assert list(shown[:, 0]) != sorted(shown[:, 0])  # not in id order
    back = pool.split(shown * 2)  # a "classifier" answering twice its input, per pool position
    for name, values in sets.items():
        assert (back[name] == values * 2).all()


def test_every_run_draws_a_new_order():
    orders = {tuple(draw_pool({"a": 50, "b": 50}).order) for _ in range(5)}
    assert len(orders) == 5
