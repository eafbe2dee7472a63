"""`vrl serve / predict / act` and the production config generator."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import yaml
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving import deploy
from serving.model_config import parse_config_text
from vrl import serve as cli
from vrl.help_format import DefaultsFormatter


def _parse(argv):
    parser = argparse.ArgumentParser(prog="vrl")
    cli.add_parsers(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_add_parsers_registers_commands_with_handlers():
    args = _parse(["serve", "--model-base", "m", "--batching", "--grpc-port", "0"])
    assert args.func is cli.serve_command and args.batching and args.grpc_port == 0
    assert args.host == "127.0.0.1" and args.rest_port == 8501 and args.poll_seconds == 2.0
    assert _parse(["predict", "--model", "cnn", "a.png", "b.png"]).images == ["a.png", "b.png"]
    assert _parse(["act", "--model", "policy", "--obs", "0,1"]).func is cli.act_command


# Inputs the server reads only when given: no default to state.
_INPUTS = {
    "--model-base",
    "--model-config",
    "--model_base_path",
    "--monitoring_config_file",
    "--batching_parameters_file",
    "--write-config",
}


def test_every_serve_flag_help_states_its_default_unless_it_is_an_input():
    parser = argparse.ArgumentParser(prog="vrl")
    cli.add_parsers(parser.add_subparsers(dest="command"))
    serve = parser._subparsers._group_actions[0].choices["serve"]
    formatter = DefaultsFormatter("vrl serve")
    silent = []
    for action in serve._actions:
        flag = action.option_strings[0] if action.option_strings else ""
        if flag in ("", "-h", *_INPUTS):
            continue
        text = formatter._get_help_string(action) % {"default": action.default}
        if "default" not in text and "unset" not in text:
            silent.append(flag)
    assert not silent, f"help states no default: {silent}"


def test_cli_module_does_not_import_tensorflow():
    code = "import sys, vrl.serve; assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_predict_prints_top_k_over_grpc_and_rest(server, helpers, tmp_path, capsys):
    image = tmp_path / "img.png"
    image.write_bytes(helpers.png_bytes())
    labels = tmp_path / "labels.txt"
    labels.write_text("\n".join(helpers.LABELS))
    target = f"127.0.0.1:{server.grpc_port}"
    assert (
        cli.predict_command(_parse(["predict", "--model", "cnn", "--server", target, str(image)]))
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == str(image) and len(lines) == 4
    assert lines[1].split()[0] == "cat" and float(lines[1].split()[1]) > 0.9
    rest = f"127.0.0.1:{server.rest_port}"
    argv = ["predict", "--model", "cnn", "--rest", "--server", rest, "--top-k", "2"]
    assert cli.predict_command(_parse(argv + ["--labels", str(labels), str(image)])) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["cat", lines[2].split()[0]]
    assert lines[2].split()[0] in ("dog", "bird")


def test_act_prints_action_and_q_values(server, capsys):
    argv = [
        "act",
        "--model",
        "policy",
        "--obs",
        "1,0,0,0",
        "--server",
        f"127.0.0.1:{server.grpc_port}",
    ]
    assert cli.act_command(_parse(argv)) == 0
    assert capsys.readouterr().out.splitlines() == ["action: 0", "q_values: 1.0000, -1.0000"]
    argv = [
        "act",
        "--model",
        "policy",
        "--obs=-1,-1,0,0",
        "--rest",
        "--server",
        f"127.0.0.1:{server.rest_port}",
    ]
    assert cli.act_command(_parse(argv)) == 0
    assert capsys.readouterr().out.splitlines()[0] == "action: 1"


def test_client_errors_exit_nonzero_with_message(server, capsys):
    argv = [
        "act",
        "--model",
        "nope",
        "--obs",
        "1,0,0,0",
        "--server",
        f"127.0.0.1:{server.grpc_port}",
    ]
    assert cli.act_command(_parse(argv)) == 1
    assert "error: NOT_FOUND" in capsys.readouterr().err
    assert cli.act_command(_parse(["act", "--model", "p", "--obs", "x,y"])) == 2


def test_write_config_generates_tf_serving_models_config(model_base, capsys):
    out = os.path.join(model_base, "models.config")
    assert (
        cli.serve_command(_parse(["serve", "--model-base", model_base, "--write-config", out])) == 0
    )
    printed = capsys.readouterr().out
    assert "docker run" in printed and "--model_config_file=/models/models.config" in printed
    with open(out) as f:
        _, specs = parse_config_text(f.read())
    assert [(s.name, s.base_path, s.policy, s.num_versions) for s in specs] == [
        ("cnn", "/models/cnn", "latest", 1),
        ("policy", "/models/policy", "latest", 1),
    ]


def test_the_docker_line_mounts_the_base_where_the_config_says_the_models_are(model_base, capsys):
    out = os.path.join(model_base, "models.config")
    argv = ["serve", "--model-base", model_base, "--write-config", out]
    assert cli.serve_command(_parse([*argv, "--container-base", "/srv/tf/"])) == 0
    line = capsys.readouterr().out.splitlines()[-1].split()
    mount = line[line.index("-v") + 1]
    assert mount == f"{os.path.abspath(model_base)}:/srv/tf:ro"
    assert "--model_config_file=/srv/tf/models.config" in line
    with open(out) as f:
        _, specs = parse_config_text(f.read())
    assert [s.base_path for s in specs] == ["/srv/tf/cnn", "/srv/tf/policy"]


def test_a_relative_container_base_writes_the_config_but_no_docker_line(model_base, capsys):
    out = os.path.join(model_base, "models.config")
    argv = ["serve", "--model-base", model_base, "--write-config", out, "--container-base", "."]
    assert cli.serve_command(_parse(argv)) == 0
    printed = capsys.readouterr().out
    assert "docker run" not in printed
    assert "(no docker line: the config's base paths are relative to '.'" in printed
    config = model_server_config_pb2.ModelServerConfig()
    with open(out) as f:
        text_format.Parse(f.read(), config)
    assert [c.base_path for c in config.model_config_list.config] == ["./cnn", "./policy"]


def test_a_config_kept_in_a_folder_of_the_base_is_not_taken_for_a_model(model_base, capsys):
    out = os.path.join(model_base, "conf", "models.config")
    os.makedirs(os.path.dirname(out))
    argv = ["serve", "--model-base", model_base, "--write-config", out]
    for _ in range(2):  # the second run sees conf/ holding the first one's config
        assert cli.serve_command(_parse(argv)) == 0
        assert "wrote " + out + " for models cnn, policy" in capsys.readouterr().out
    config = model_server_config_pb2.ModelServerConfig()
    with open(out) as f:
        text_format.Parse(f.read(), config)
    assert [c.name for c in config.model_config_list.config] == ["cnn", "policy"]


def test_k8s_manifests_wire_ports_probe_and_config():
    docs = {}
    for name in ("deployment.yaml", "service.yaml", "configmap.yaml"):
        with open(os.path.join(deploy.K8S_DIR, name)) as f:
            doc = yaml.safe_load(f)
        docs[doc["kind"]] = doc
    container = docs["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].startswith("tensorflow/serving")
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "grpc": 8500,
        "rest": 8501,
    }
    assert container["readinessProbe"]["httpGet"]["path"].startswith("/v1/models/")
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/models", "/config"}
    assert {p["name"]: p["port"] for p in docs["Service"]["spec"]["ports"]} == {
        "grpc": 8500,
        "rest": 8501,
    }
    config, specs = parse_config_text(docs["ConfigMap"]["data"]["models.config"])
    assert isinstance(config, model_server_config_pb2.ModelServerConfig)
    assert specs and all(s.base_path.startswith("/models/") for s in specs)


def test_demo_queries_pushed_cnn_and_policy_over_grpc(model_base, helpers):
    from serving.demo import query_pushed_models

    answers = query_pushed_models(
        model_base, "cnn", helpers.png_bytes(), "policy", [1.0, 0.0, 0.0, 0.0], timeout=60
    )
    assert answers.cnn_version == 1 and answers.policy_version == 1
    assert answers.top_labels[0][0] == "cat" and answers.top_labels[0][1] > 0.9
    assert len(answers.top_labels) == 3
    assert answers.action == 0 and answers.q_values == [1.0, -1.0]
