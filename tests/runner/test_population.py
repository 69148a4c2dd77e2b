"""runner/population.py: the record's population fields, as the runner writes them and publish recomputes them."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "leaderboard"))
from leaderboard_fixtures import make_record  # noqa: E402

from cxrbench.runner.population import population_difference, population_fields  # noqa: E402
from cxrbench.tasking import get_task  # noqa: E402
from cxrbench.training_population import TrainingSource  # noqa: E402

FIVE_K = TrainingSource(data="phantom/site-a/train", patients=3561, images=9742, population=5000)


def test_fields_against_each_family_and_kind():
    quick = get_task("phantom/supplement-100").budget("quick")
    fields = population_fields([FIVE_K.data], [FIVE_K], "generator", get_task("phantom/supplement-100"), quick)
    assert fields == dict(training_population=[FIVE_K], real_patients=3561, task_real_patients=712,
                          data_group="more real data")
    # cross_source: a generator learns from source A's rows (site-a), the classifier trains on site-b's
    cross = get_task("phantom/cross_source-100")
    assert population_fields([], [], "generator", cross, cross.budget("quick"))["data_group"] == "no real data"
    own = TrainingSource(data="phantom/site-a/train", patients=712, population=1000)
    assert population_fields([own.data], [own], "generator", cross, cross.budget("quick"))["data_group"] == "task rows"


def test_publish_recomputes_the_group():
    record = make_record("phantom/supplement-100", "reference-ddpm")
    s = record.submission
    s.training_population, s.declared_training_data = [FIVE_K], [FIVE_K.data]
    s.real_patients, s.task_real_patients, s.data_group = 3561, 712, "more real data"
    assert population_difference(record) is None
    s.data_group = "task rows"  # edited to rank with the rest
    assert population_difference(record) == ("submission.data_group is 'task rows', cxrbench computes "
                                             "'more real data'")
    s.training_population = [FIVE_K.model_copy(update={"patients": 4000})]
    assert "declares 4,000 patients, but that split of a 5,000-patient phantom population holds 3,561" in \
        population_difference(record)
    record.schema_version = 3  # older records carry no population to check
    assert population_difference(record) is None
