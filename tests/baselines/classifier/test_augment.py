import torch

from cxrbench.baselines.classifier import get_recipe
from cxrbench.baselines.classifier.augment import augment, mixup, to_model_input


def test_to_model_input_scales_and_resizes():
    pixels = torch.tensor([[[0, 255], [255, 0]]], dtype=torch.uint8)
    x = to_model_input(pixels, 2)
    assert x.shape == (1, 1, 2, 2)
    assert torch.equal(x, torch.tensor([[[[-1.0, 1.0], [1.0, -1.0]]]]))
    big = to_model_input(torch.full((3, 64, 64), 255, dtype=torch.uint8), 32)
    assert big.shape == (3, 1, 32, 32) and torch.allclose(big, torch.ones_like(big))


def test_no_augmentation_is_identity():
    recipe = get_recipe("quick", rotate_deg=0, translate_frac=0, scale_range=0, noise_std=0, hflip_p=0)
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    assert torch.equal(augment(x, recipe, torch.Generator().manual_seed(0)), x)


def test_flip_all_and_seeded_draws():
    flip = get_recipe("quick", rotate_deg=0, translate_frac=0, scale_range=0, noise_std=0, hflip_p=1.0)
    x = torch.rand(4, 1, 16, 16) * 2 - 1
    assert torch.equal(augment(x, flip, torch.Generator().manual_seed(0)), x.flip(-1))
    recipe = get_recipe("standard")
    a = augment(x, recipe, torch.Generator().manual_seed(3))
    b = augment(x, recipe, torch.Generator().manual_seed(3))
    c = augment(x, recipe, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == x.shape and a.abs().max() < 1.5


def test_affine_pads_black_and_preserves_centre():
    recipe = get_recipe("quick", rotate_deg=0, translate_frac=0.25, scale_range=0, noise_std=0, hflip_p=0)
    x = torch.ones(64, 1, 16, 16)
    out = augment(x, recipe, torch.Generator().manual_seed(0))
    assert out.min() == -1.0  # shifted-in border is black, not grey
    assert torch.allclose(out[:, :, 7:9, 7:9], torch.ones(64, 1, 2, 2))


def test_mixup_keeps_masks():
    x = torch.randn(6, 1, 4, 4)
    y = torch.tensor([[1.0, float("nan")]] * 3 + [[0.0, 1.0]] * 3)
    mixed, targets = mixup(x, y, 0.4, torch.Generator().manual_seed(1))
    assert mixed.shape == x.shape
    assert torch.isnan(targets[:, 1]).sum() >= 3  # NaN in either partner stays masked
    finite = targets[~torch.isnan(targets)]
    assert ((finite >= 0) & (finite <= 1)).all()
