import numpy as np
import torch

from cxrbench.baselines.classifier.loader import BatchLoader, _quotas, iterate_images

from .toy import toy_set


def loader(sizes, epoch_images=None, batch_size=16, image_size=32):
    parts = [toy_set(n, i, prefix=f"p{i}-") for i, n in enumerate(sizes)]
    return BatchLoader(parts, [p.labels for p in parts], batch_size, image_size, epoch_images=epoch_images), parts


def test_full_pass_is_a_permutation_and_seeded():
    lo, _ = loader([50, 150])
    order = lo.epoch_order(seed=3, epoch=0)
    assert sorted(order.tolist()) == list(range(200))
    assert np.array_equal(order, lo.epoch_order(seed=3, epoch=0))
    assert not np.array_equal(order, lo.epoch_order(seed=3, epoch=1))
    assert len(lo) == 200 // 16


def test_epoch_images_keep_the_exact_mix_and_use_every_row_before_repeats():
    lo, _ = loader([100, 300], epoch_images=64)  # supplement 300 %: quotas 16 real + 48 synthetic
    assert lo.quotas == [16, 48]
    seen = [lo.epoch_order(seed=0, epoch=e) for e in range(25)]
    for order in seen:
        assert (order < 100).sum() == 16 and (order >= 100).sum() == 48
    real = np.concatenate([o[o < 100] for o in seen])
    # 25 epochs x 16 = 400 draws = 4 full cycles: each real row exactly 4 times, no early repeat.
    assert np.array_equal(np.bincount(real, minlength=100), np.full(100, 4))
    first_six = np.concatenate([o[o < 100] for o in seen[:6]])  # 96 draws, all in the first cycle
    assert len(set(first_six.tolist())) == 96


def test_quotas_largest_remainder():
    assert _quotas([1, 1, 1], 10) == [4, 3, 3]
    assert _quotas([1902, 1902 * 3], 2048) == [512, 1536]
    assert sum(_quotas([7, 13, 29], 100)) == 100


def test_gather_returns_rows_in_the_requested_order():
    lo, parts = loader([10, 10], image_size=32)
    index = np.array([15, 2, 19, 0])
    x, y = lo.gather(index)
    assert x.shape == (4, 1, 32, 32)
    expected = np.stack([parts[1].images[5], parts[0].images[2], parts[1].images[9], parts[0].images[0]])
    assert torch.allclose(x[:, 0], torch.from_numpy(expected).float() / 127.5 - 1, atol=1e-6)
    raw = np.stack([parts[1].labels[5], parts[0].labels[2], parts[1].labels[9], parts[0].labels[0]])
    np.testing.assert_array_equal(y.numpy(), raw)


def test_iterate_images_covers_a_memmap(tmp_path):
    data = np.arange(5 * 4 * 4, dtype=np.uint8).reshape(5, 4, 4)
    path = tmp_path / "x.u8"
    data.tofile(path)
    mm = np.memmap(path, dtype=np.uint8, mode="r", shape=(5, 4, 4))
    batches = list(iterate_images(mm, 2, 4, "cpu"))
    assert [b.shape[0] for b in batches] == [2, 2, 1]
    assert torch.equal(torch.cat(batches)[:, 0], torch.from_numpy(data).float() * (2 / 255) - 1)
