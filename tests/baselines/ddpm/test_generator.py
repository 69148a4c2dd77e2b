"""ReferenceGenerator: the runner's entry point, from a weights folder or a preset name."""

import numpy as np
import pytest
import torch

from cxrbench.baselines.ddpm import ReferenceGenerator
from cxrbench.baselines.ddpm.model import save_pretrained
from cxrbench.errors import ConfigError, SchemaError, SubmissionError

from .ddpm_helpers import condition_table, random_model


@pytest.fixture(scope="module")
def weights_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("micro")
    save_pretrained(random_model(), path)
    return path


def test_generate_shapes_sizes_and_determinism(weights_dir):
    gen = ReferenceGenerator.from_pretrained(weights_dir, sampler="dpmpp-2m", steps=6, batch_size=8)
    table = condition_table(11)
    seeds = np.arange(11, dtype=np.int64) * 7919
    images = gen.generate(table, seeds, 16)
    assert images.shape == (11, 16, 16) and images.dtype == np.uint8
    assert images.std() > 1
    again = ReferenceGenerator.from_pretrained(weights_dir, steps=6, batch_size=4).generate(table, seeds, 16)
    np.testing.assert_array_equal(images, again)  # batch size does not matter
    resized = gen.generate(table.iloc[:3], seeds[:3], 32)
    assert resized.shape == (3, 32, 32)
    assert abs(resized.astype(float).mean() - images[:3].astype(float).mean()) < 3
    assert "micro-16" in gen.identity and "dpmpp-2m-6" in gen.identity
    threaded = ReferenceGenerator.from_pretrained(weights_dir, steps=6, batch_size=8, threads=1)
    before = torch.get_num_threads()
    np.testing.assert_array_equal(threaded.generate(table, seeds, 16), images)
    assert torch.get_num_threads() == before  # restored


def test_bad_inputs_get_clear_errors(weights_dir, tmp_path):
    gen = ReferenceGenerator.from_pretrained(weights_dir, steps=2, batch_size=4)
    table = condition_table(3)
    with pytest.raises(SchemaError, match="missing column\\(s\\): Edema"):
        gen.generate(table.drop(columns=["Edema"]), np.arange(3), 16)
    with pytest.raises(SubmissionError, match="3 condition rows but 2 seeds"):
        gen.generate(table, np.arange(2), 16)
    with pytest.raises(SubmissionError, match="integer"):
        gen.generate(table, np.arange(3) + 0.5, 16)
    with pytest.raises(ConfigError, match="neither a weights folder nor shipped weights"):
        ReferenceGenerator.from_pretrained("no-such-preset")
    with pytest.raises(ConfigError, match="not a generator weights folder"):
        ReferenceGenerator.from_pretrained(tmp_path)
    with pytest.raises(ConfigError, match="unknown sampler"):
        ReferenceGenerator.from_pretrained(weights_dir, sampler="heun")
