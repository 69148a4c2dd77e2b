import pytest

from cxrbench.baselines.classifier import BACKBONES, PRESETS, Recipe, get_recipe
from cxrbench.errors import ConfigError


def test_presets_are_valid_and_versioned():
    for name in PRESETS:
        recipe = get_recipe(name)
        assert recipe.name == name and recipe.version
        assert recipe.backbone in BACKBONES
        assert recipe.identity() == {"name": name, "version": recipe.version, "fingerprint": recipe.fingerprint()}


def test_standard_is_the_study_recipe():
    r = get_recipe("standard")
    assert (r.backbone, r.image_size, r.optimizer) == ("convnext_base", 256, "lion")
    assert r.ema_decay and r.mixup_alpha > 0 and r.hflip_p > 0 and r.noise_std > 0


def test_fingerprint_tracks_every_field():
    base = get_recipe("quick")
    assert get_recipe("quick").fingerprint() == base.fingerprint()
    changed = get_recipe("quick", lr=base.lr * 2)
    assert changed.version == base.version and changed.fingerprint() != base.fingerprint()


def test_unknown_preset_and_backbone_are_clear_errors():
    with pytest.raises(ConfigError, match="unknown classifier recipe 'nope'.*quick"):
        get_recipe("nope")
    with pytest.raises(ConfigError, match="unknown backbone 'vgg11'.*convnext_base"):
        get_recipe("quick", backbone="vgg11")
    with pytest.raises(ConfigError, match="no_such_field"):
        get_recipe("quick", no_such_field=1)


def test_recipe_is_frozen():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="frozen"):
        get_recipe("quick").lr = 1.0
    assert isinstance(get_recipe("quick"), Recipe)
