"""vrl status / label / rollback / lineage on small fixtures (no pipeline run, no server)."""

import json
import os

import pytest

from components.atomic_pusher import ops, provenance
from vrl import labels
from vrl.cli import main


def _saved_model(tmp_path, weights: bytes):
    src = tmp_path / f"model-{weights.decode()}"
    (src / "variables").mkdir(parents=True)
    (src / "saved_model.pb").write_bytes(b"graph")
    (src / "variables" / "variables.index").write_bytes(weights)
    return str(src)


def _push(tmp_path, base, version, span, accuracy, baseline=None):
    record = provenance.build(
        model_name="clf",
        version=0,
        kind="image",
        pipeline={"name": "image-classifier", "run_id": f"run-{version}"},
        data={"span": span},
        trainer=None,
        metrics=None,
        evaluation={
            "metric": "accuracy",
            "value": accuracy,
            "blessed": True,
            "baseline": {"version": baseline} if baseline else None,
            "delta": 0.05 if baseline else None,
        },
        code={"package": "vision-rl-pipeline", "package_version": "0.1.0", "git_commit": None},
    )
    src = _saved_model(tmp_path, str(version).encode())
    return ops.atomic_push(src, os.path.join(base, "clf"), version=version, provenance=record)


@pytest.fixture
def base(tmp_path):
    base = str(tmp_path / "serving")
    _push(tmp_path, base, 1, span=1, accuracy=0.9)
    _push(tmp_path, base, 2, span=2, accuracy=0.95, baseline=1)
    os.makedirs(os.path.join(base, "clf", ".staging-3-abc"))  # a push in flight
    return base


def test_status_lists_complete_versions_with_a_provenance_line(base, capsys):
    assert main(["status", "--serving-base", base]) == 0
    out = capsys.readouterr().out
    assert "clf" in out
    assert "1  span 1, pushed" in out and "accuracy 0.9000, no baseline, blessed" in out
    assert "2  span 2" in out and "vs v1 +0.05" in out
    assert main(["status", "--serving-base", base, "--json"]) == 0
    models = json.loads(capsys.readouterr().out)["models"]
    assert [v["version"] for v in models[0]["versions"]] == [1, 2]
    assert models[0]["versions"][1]["provenance"]["data"]["span"] == 2


def test_status_lists_versions_a_push_left_without_its_marker_as_unfinished(base, tmp_path, capsys):
    """A push killed between rename and marker leaves a version with provenance and
    no marker (issue 21): status names it as unfinished instead of hiding it."""
    died = _push(tmp_path, base, 4, span=4, accuracy=0.97, baseline=2)
    os.remove(os.path.join(died, "assets.extra", "vrl_push_complete.json"))
    os.makedirs(os.path.join(base, "clf", "5"))  # a folder without a graph
    os.makedirs(os.path.join(base, "clf", ".staging-6-abc"))  # the push of 4 removed 3's
    assert main(["status", "--serving-base", base]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("  2  span 2") for line in lines)
    assert not any(line.startswith("  4  span 4") for line in lines)  # not a served version
    unfinished = {line.split()[0]: line for line in lines if "unfinished: " in line}
    assert set(unfinished) == {"4", "5", ".staging-6-abc"}
    assert "no push marker" in unfinished["4"] and "the next push removes it" in unfinished["4"]
    assert "no saved_model.pb" in unfinished["5"]
    assert main(["status", "--serving-base", base, "--json"]) == 0
    model = json.loads(capsys.readouterr().out)["models"][0]
    assert [v["version"] for v in model["versions"]] == [1, 2]
    assert [u["name"] for u in model["unfinished"]] == ["4", "5", ".staging-6-abc"]


def test_status_of_a_missing_base_is_a_one_line_error(tmp_path, capsys):
    assert main(["status", "--serving-base", str(tmp_path / "nope")]) == 2
    assert "no such serving base" in capsys.readouterr().err


def _config(base):
    path = os.path.join(base, "models.config")
    with open(path, "w") as f:
        f.write('model_config_list { config { name: "clf" base_path: "clf" } }\n')
    return path


def test_label_then_rollback_twice_restores_the_label(base, capsys):
    path = _config(base)
    assert main(["label", "clf", "1", "stable", "--model-config", path]) == 0
    assert main(["label", "clf", "2", "stable", "--model-config", path]) == 0
    assert "stable 1 -> 2" in capsys.readouterr().out
    entry = labels.read_config(path).model_config_list.config[0]
    assert dict(entry.version_labels) == {"stable": 2}
    assert list(entry.model_version_policy.specific.versions) == [2]
    assert main(["rollback", "clf", "--model-config", path]) == 0
    assert "stable 2 -> 1" in capsys.readouterr().out
    assert main(["rollback", "clf", "--model-config", path]) == 0  # rollback of the rollback
    assert dict(labels.read_config(path).model_config_list.config[0].version_labels) == {
        "stable": 2
    }
    assert main(["label", "clf", "1", "canary", "--model-config", path]) == 0
    entry = labels.read_config(path).model_config_list.config[0]
    assert dict(entry.version_labels) == {"stable": 2, "canary": 1}
    assert sorted(entry.model_version_policy.specific.versions) == [1, 2]
    assert main(["rollback", "clf", "--to", "1", "--model-config", path]) == 0
    assert labels.read_config(path).model_config_list.config[0].version_labels["stable"] == 1


def test_label_refuses_a_version_that_is_not_a_complete_push(base, capsys):
    path = _config(base)
    assert main(["label", "clf", "3", "stable", "--model-config", path]) == 2
    assert "not complete versions" in capsys.readouterr().err
    assert main(["label", "other", "1", "stable", "--model-config", path]) == 2
    assert "no model 'other'" in capsys.readouterr().err


def _store(path):
    """A tiny ML Metadata store: ExampleGen -> Trainer -> Evaluator -> Pusher."""
    import ml_metadata as mlmd
    from ml_metadata.proto import metadata_store_pb2 as pb

    cfg = pb.ConnectionConfig()
    cfg.sqlite.filename_uri = path
    cfg.sqlite.connection_mode = pb.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    store = mlmd.MetadataStore(cfg)
    node_type = store.put_context_type(pb.ContextType(name="node"))

    def artifact(type_name, **props):
        type_id = store.put_artifact_type(pb.ArtifactType(name=type_name))
        a = pb.Artifact(type_id=type_id, uri=f"/x/{type_name}", state=pb.Artifact.LIVE)
        for k, v in props.items():
            if k == "span":  # as Kubeflow records it: a struct holding a double
                a.custom_properties[k].struct_value.update({"__value__": float(v)})
                continue
            field = "int_value" if isinstance(v, int) else "string_value"
            setattr(a.custom_properties[k], field, v)
        return store.put_artifacts([a])[0]

    def execution(node, inputs, outputs, **props):
        type_id = store.put_execution_type(pb.ExecutionType(name=node))
        e = pb.Execution(type_id=type_id, last_known_state=pb.Execution.COMPLETE)
        for k, v in props.items():
            e.custom_properties[k].string_value = v
        ctx = pb.Context(type_id=node_type, name=f"pipe.{node}")
        # put_execution rewrites the artifacts it is given: pass them whole.
        events = [(a, pb.Event(type=pb.Event.INPUT)) for a in store.get_artifacts_by_id(inputs)]
        events += [(a, pb.Event(type=pb.Event.OUTPUT)) for a in store.get_artifacts_by_id(outputs)]
        store.put_execution(e, events, [ctx])

    examples = artifact("Examples", span=7, input_fingerprint="fp7")
    model = artifact("Model")
    blessing = artifact("ModelBlessing", blessed=1)
    pushed = artifact(
        "PushedModel", pushed=1, pushed_version="42", pushed_destination="/serving/clf/42"
    )
    execution("ImageExampleGen", [], [examples], input_base="/data")
    execution("Trainer", [examples], [model])
    execution("Evaluator", [examples, model], [blessing])
    execution("Pusher", [model, blessing], [pushed])


def test_lineage_from_a_store_named_by_a_connection_config_file(tmp_path, capsys):
    db = str(tmp_path / "other.sqlite")
    _store(db)
    config = tmp_path / "mlmd.config"
    config.write_text(f'sqlite {{ filename_uri: "{db}" connection_mode: READONLY }}\n')
    assert main(["lineage", "clf:42", "--metadata-config", str(config), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["version"] == 42
    nodes = [s["node"] for s in result["steps"]]
    assert nodes == ["Pusher", "Evaluator", "Trainer", "ImageExampleGen"]
    trainer_inputs = result["steps"][2]["inputs"]
    assert trainer_inputs[0]["properties"] == {"input_fingerprint": "fp7", "span": 7}
    assert result["steps"][3]["properties"] == {"input_base": "/data"}
    assert main(["lineage", "clf:41", "--metadata-config", str(config)]) == 2
    assert "no push of clf version 41" in capsys.readouterr().err


def test_report_from_provenance_alone_is_one_self_contained_page(base, tmp_path, capsys):
    out = str(tmp_path / "report.html")
    argv = ["report", "clf:2", "--serving-base", base, "--home", str(tmp_path), "--out", out]
    assert main(argv) == 0
    page = open(out).read()
    assert page.startswith("<!DOCTYPE html>") and "<h1>clf version 2</h1>" in page
    assert "span 2" in page and "vs v1 +0.05" in page
    assert "http://" not in page and "https://" not in page  # nothing fetched from elsewhere
