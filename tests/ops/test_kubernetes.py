"""The Kubernetes manifests are valid objects for the API server (kubernetes-validate,
strict, against the oldest and newest Kubernetes versions checked here, from schemas
that ship with the package) and fit together: the drive list names exactly the pods
and claims the StatefulSet makes, probes hit the health paths, credentials come from a
Secret, and the disruption budget covers the pods."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT, run

MANIFESTS = sorted((REPO_ROOT / "deploy/kubernetes").glob("*.yaml"))
KUBERNETES_VERSIONS = ["1.30.0", "1.37.0"]


def validate(files: list[Path], version: str) -> str:
    done = run(["kubernetes-validate", "--strict", "-k", version, *map(str, files)], check=False)
    return f"exit {done.returncode}\n{done.stdout}{done.stderr}"


def objects() -> dict[str, dict]:
    """Every object of the manifests, keyed by `Kind/name`."""
    found = {}
    for path in MANIFESTS:
        for doc in yaml.safe_load_all(path.read_text()):
            found[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return found


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_manifests_pass_strict_schema_validation(version):
    """kubernetes-validate --strict accepts every manifest for this Kubernetes version."""
    assert len(MANIFESTS) >= 4
    output = validate(MANIFESTS, version)
    assert output.startswith("exit 0"), output
    assert "passed" in output and "fail" not in output.lower(), output


def test_strict_validation_catches_a_misspelt_field(tmp_path):
    """The check above can fail: a field the schema does not know is refused."""
    broken = tmp_path / "statefulset.yaml"
    text = (REPO_ROOT / "deploy/kubernetes/statefulset.yaml").read_text()
    broken.write_text(text.replace("  replicas: 4", "  replica: 4", 1))
    output = validate([broken], KUBERNETES_VERSIONS[0])
    assert not output.startswith("exit 0"), output
    assert "replica" in output, output


def expand_ellipsis(pattern: str) -> list[str]:
    """`a{0...3}b{1...2}` -> every combination, leftmost range outermost (the drive order)."""
    found = re.search(r"\{(\d+)\.\.\.(\d+)\}", pattern)
    if not found:
        return [pattern]
    low, high = int(found.group(1)), int(found.group(2))
    head, tail = pattern[: found.start()], pattern[found.end():]
    return [item for n in range(low, high + 1) for item in expand_ellipsis(head + str(n) + tail)]


def test_drive_list_names_the_statefulsets_pods_and_claims():
    """The ellipsis drive list expands to replicas x claims URLs, each a pod's stable DNS
    name under the headless Service in this namespace and a mounted claim."""
    found = objects()
    sts = found["StatefulSet/shoal"]
    headless = found["Service/shoal-hl"]
    namespace = sts["metadata"]["namespace"]
    pod = sts["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert sts["spec"]["replicas"] == 4
    assert sts["spec"]["serviceName"] == headless["metadata"]["name"]
    assert headless["spec"]["clusterIP"] == "None"
    claims = [c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]]
    assert len(claims) == 4
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    drive_args = [a for a in container["args"] if a.startswith("http://")]
    assert len(drive_args) == 1 and "..." in drive_args[0], container["args"]
    drives = expand_ellipsis(drive_args[0])
    assert len(drives) == sts["spec"]["replicas"] * len(claims)
    expected = [
        f"http://shoal-{n}.{headless['metadata']['name']}.{namespace}.svc.cluster.local:9000{mounts[c]}"
        for n in range(sts["spec"]["replicas"])
        for c in claims
    ]
    assert drives == expected


def test_probes_credentials_and_security_context():
    """Liveness and readiness probe MinIO's health paths on the S3 port; the root
    credentials come from a Secret; the container runs unprivileged on a read-only root."""
    pod = objects()["StatefulSet/shoal"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/minio/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/minio/health/ready"
    port_names = {p["name"] for p in container["ports"]}
    assert container["readinessProbe"]["httpGet"]["port"] in port_names
    env = {e["name"]: e for e in container["env"]}
    for name in ("SHOAL_ROOT_USER", "SHOAL_ROOT_PASSWORD"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "shoal-credentials"
        assert "value" not in env[name]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["limits"]["memory"]


def test_services_and_budget_select_the_pods():
    """Both Services and the PodDisruptionBudget select the StatefulSet's pods, all in one
    namespace, and at most one pod may be disrupted at a time."""
    found = objects()
    sts = found["StatefulSet/shoal"]
    labels = sts["spec"]["template"]["metadata"]["labels"]
    namespaces = {doc["metadata"].get("namespace") for key, doc in found.items() if not key.startswith("Namespace/")}
    assert namespaces == {sts["metadata"]["namespace"]}
    for key in ("Service/shoal", "Service/shoal-hl"):
        assert found[key]["spec"]["selector"].items() <= labels.items(), key
    pdb = found["PodDisruptionBudget/shoal"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["maxUnavailable"] == 1
