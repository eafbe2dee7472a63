import types

import pytest

from kubeflow.submit import submit


class FakeClient:
    def __init__(self):
        self.calls = []

    def create_run_from_pipeline_package(self, path, **kwargs):
        self.calls.append(("run", path, kwargs))
        return types.SimpleNamespace(run_id="run-1")

    def create_experiment(self, name, namespace=None):
        self.calls.append(("experiment", name, namespace))
        return types.SimpleNamespace(experiment_id="exp-7")

    def create_recurring_run(self, **kwargs):
        self.calls.append(("recurring", kwargs))
        return types.SimpleNamespace(recurring_run_id="job-3")


def test_one_off_run_is_created_from_the_compiled_package():
    client = FakeClient()
    result = submit("image.json", host="h", run_name="nightly", client=client)
    assert (result.kind, result.id) == ("run", "run-1")
    (_, path, kwargs) = client.calls[0]
    assert path == "image.json" and kwargs["experiment_name"] == "vision-rl-pipeline"


def test_cron_creates_a_recurring_run_in_the_experiment_without_catchup():
    client = FakeClient()
    result = submit("rl.json", host="h", cron="0 0 3 * * *", client=client)
    assert (result.kind, result.id) == ("recurring_run", "job-3")
    recurring = client.calls[-1][1]
    assert recurring["experiment_id"] == "exp-7"
    assert recurring["cron_expression"] == "0 0 3 * * *"
    assert recurring["pipeline_package_path"] == "rl.json" and recurring["no_catchup"]


def test_five_field_cron_is_rejected_with_the_expected_form():
    with pytest.raises(ValueError, match="6 fields"):
        submit("rl.json", host="h", cron="0 3 * * *", client=FakeClient())
