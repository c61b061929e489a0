#!/bin/sh
# The offline checks of the Helm chart (deploy/helm/webtoon), its examples,
# the Containerfile and the CI workflows, and the proof that each linter
# fails on a bad input: the cluster suite runs it before it installs
# anything, and it runs alone without a cluster or a network.
#
#   scripts/cluster/chart-check.sh          everything below; exits 1 on the first failure
#   scripts/cluster/chart-check.sh good     only the checks of the real inputs
#   scripts/cluster/chart-check.sh broken   only the linters against tests/cluster/broken/
#
# The real inputs:
#   - helm lint --strict and helm template for each value set below (the
#     defaults, every example in deploy/helm/examples, and switches: HPA off
#     everywhere and on everywhere, NetworkPolicies off, monitoring on (its
#     PrometheusRule and dashboards the files of deploy/monitoring),
#     Secrets and persistence, Istio with everything on);
#   - kubeconform -strict on every rendered object, with schemas that never
#     come from the network: Kubernetes' from the kubernetes-validate
#     package (PyPI, in the toolchain's venv), Istio's and the Prometheus
#     Operator's converted from their CRDs with kubeconform's
#     openapi2jsonschema.py (from the Go module proxy); converted once into
#     ${XDG_CACHE_HOME:-~/.cache}/webtoon/cluster/schemas. The operator
#     examples (Strimzi, CloudNativePG, Keycloak) have no CRD to be had
#     offline here: they are parsed, not validated;
#   - checkov (--skip-download) on the rendered manifests (kubernetes) and
#     on the Containerfile (dockerfile), with deploy/helm/checkov.yaml,
#     which lists every skipped check and why;
#   - actionlint on .github/workflows.
# Chart.yaml's appVersion must be the project's version (CMakeLists.txt).
#
# tests/cluster/broken/ holds one bad input per linter (its README says
# what is wrong with each); each linter must fail on it, with the message
# that says why, or this script fails.
#
# The tools are the pinned ones of scripts/cluster/toolchain.sh, in
# ${XDG_CACHE_HOME:-~/.cache}/webtoon/cluster; `toolchain.sh linters` builds
# them when one is missing (the first time, a few minutes).
set -eu
cd "$(dirname "$0")/../.."
what=${1:-all}
case "$what" in
  all | good | broken) ;;
  *)
    sed -n '2,/^set -eu/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac

top="${XDG_CACHE_HOME:-$HOME/.cache}/webtoon/cluster"
bin="$top/bin"
venv="$top/venv"
chart=deploy/helm/webtoon
examples=deploy/helm/examples
broken=tests/cluster/broken
checkov_config=deploy/helm/checkov.yaml
release=webtoon
namespace=webtoon
pin() { sed -n "s/^$1=//p" scripts/cluster/toolchain.sh; }
k8s_version=$(pin k8s_version)
kubeconform_version=$(pin kubeconform_version)
istio_version=$(pin istio_api_version)
istio_crds="$top/istio-crds-$istio_version.yaml"
# The ServiceMonitor and PrometheusRule CRDs (the module's example/ directory).
prometheus_operator_version=0.85.0

say() { echo "chart-check: $*" >&2; }
fail() {
  say "FAILED: $*"
  exit 1
}

for tool in "$bin/helm" "$bin/kubeconform" "$bin/actionlint" "$venv/bin/checkov" "$istio_crds"; do
  if [ ! -e "$tool" ]; then
    say "building the linters (scripts/cluster/toolchain.sh linters)"
    scripts/cluster/toolchain.sh linters >/dev/null
    break
  fi
done
helm="$bin/helm"
kubeconform="$bin/kubeconform"
actionlint="$bin/actionlint"
checkov="$venv/bin/checkov"
python="$venv/bin/python"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

# module_dir <module@version>: the Go module, unpacked in the toolchain's cache.
module_dir() {
  go=$(scripts/cluster/go.sh)
  (cd "$work" && GOMODCACHE="$top/gomod" GOPATH="$top/gopath" GOFLAGS=-mod=mod GOTOOLCHAIN=local \
    "$go" mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
}

# Kubernetes' schemas for the cluster's minor version (kubernetes-validate
# ships one set per minor, strict: unknown fields are errors), made to refer
# to each other by relative paths instead of https://kubernetes.io/.
minor=$(echo "$k8s_version" | cut -d. -f1,2)
k8s_schemas="$top/schemas/kubernetes-v$minor.0-strict"
crd_schemas="$top/schemas/crds-istio-$istio_version-prometheus-operator-$prometheus_operator_version"
make_schemas() {
  if [ ! -f "$k8s_schemas/.done" ]; then
    say "converting Kubernetes $minor schemas from kubernetes-validate"
    rm -rf "$k8s_schemas.part"
    mkdir -p "$k8s_schemas.part"
    "$python" - "$minor" "$k8s_schemas.part" <<'PY'
import json, os, sys
import kubernetes_validate

minor, out = sys.argv[1], sys.argv[2]
src = os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema",
                   "v%s.0-local-strict" % minor)

def fix(node):
    if isinstance(node, dict):
        if str(node.get("$id", "")).startswith("https://kubernetes.io/"):
            del node["$id"]
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("/api/_definitions.json#"):
            node["$ref"] = ref[len("/api/"):]
        for v in node.values():
            fix(v)
    elif isinstance(node, list):
        for v in node:
            fix(v)

for name in os.listdir(src):
    if name.endswith(".json"):
        with open(os.path.join(src, name)) as f:
            schema = json.load(f)
        fix(schema)
        with open(os.path.join(out, name), "w") as f:
            json.dump(schema, f)
PY
    touch "$k8s_schemas.part/.done"
    rm -rf "$k8s_schemas"
    mv "$k8s_schemas.part" "$k8s_schemas"
  fi
  if [ ! -f "$crd_schemas/.done" ]; then
    say "converting the Istio $istio_version and Prometheus Operator $prometheus_operator_version CRDs"
    scripts=$(module_dir "github.com/yannh/kubeconform@v$kubeconform_version")/scripts
    po=$(module_dir "github.com/prometheus-operator/prometheus-operator@v$prometheus_operator_version")
    rm -rf "$crd_schemas.part"
    mkdir -p "$crd_schemas.part"
    # {kind}-{group}-{version}: the names kubeconform's {{ .ResourceKind }}{{ .KindSuffix }} asks for.
    (cd "$crd_schemas.part" && FILENAME_FORMAT='{kind}-{group}-{version}' "$python" \
      "$scripts/openapi2jsonschema.py" "$istio_crds" \
      "$po/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
      "$po/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" >/dev/null)
    touch "$crd_schemas.part/.done"
    rm -rf "$crd_schemas"
    mv "$crd_schemas.part" "$crd_schemas"
  fi
}

# kubeconform_strict [flag...] <file>...: every object against its schema;
# none may be missing. Only local schema locations: kubeconform's default
# is a URL.
kubeconform_strict() {
  "$kubeconform" -strict -summary -output text \
    -schema-location "$k8s_schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
    -schema-location "$crd_schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json" "$@"
}

checkov_run() { # <framework> <file>...
  framework=$1
  shift
  files=""
  for f in "$@"; do files="$files -f $f"; done
  # shellcheck disable=SC2086
  "$checkov" --config-file "$checkov_config" --framework "$framework" $files
}

# The value sets: a name, then helm's arguments.
value_sets() {
  cat <<EOF
defaults
istio -f $examples/istio.yaml
strimzi -f $examples/strimzi.yaml
cloudnativepg -f $examples/cloudnativepg.yaml
keycloak -f $examples/cloudnativepg.yaml -f $examples/keycloak.yaml
local-cluster -f $examples/local-cluster.yaml
hpa-off --set history.autoscaling.enabled=false
hpa-everywhere --set pointer.autoscaling.enabled=true,payment.autoscaling.enabled=true,webtoon.autoscaling.enabled=true,purchase.autoscaling.enabled=true,web.autoscaling.enabled=true,gateway.autoscaling.enabled=true
networkpolicy-off --set networkPolicy.enabled=false
monitoring --set monitoring.serviceMonitor.enabled=true,monitoring.prometheusRule.enabled=true,monitoring.grafanaDashboards.enabled=true
logging --set logging.promtail.enabled=true,logging.alloy.enabled=true
logging-metadata --set logging.promtail.enabled=true,logging.alloy.enabled=true,logging.traceId=structuredMetadata,logging.promtail.namespace=monitoring
secrets --set engines.postgres.existingSecret=webtoon-store,auth.builtin.cliSecret.existingSecret=webtoon-cli-client,auth.builtin.persistence.enabled=true,networkPolicy.egress.enabled=true,gateway.service.type=NodePort,gateway.service.nodePort=30088
istio-everything -f $examples/istio.yaml --set gateway.enabled=true,monitoring.serviceMonitor.enabled=true,monitoring.prometheusRule.enabled=true,pointer.podDisruptionBudget.maxUnavailable=1
EOF
}

check_good() {
  version=$(sed -n 's/^project(webtoon VERSION \([^ ]*\) .*/\1/p' CMakeLists.txt)
  grep -qx "appVersion: \"$version\"" "$chart/Chart.yaml" ||
    fail "$chart/Chart.yaml: appVersion is not the project's version $version (CMakeLists.txt)"
  make_schemas
  mkdir -p "$work/rendered"
  value_sets | while read -r name args; do
    # shellcheck disable=SC2086
    "$helm" lint --strict "$chart" --namespace "$namespace" --kube-version "$k8s_version" $args \
      >"$work/lint.log" 2>&1 || { cat "$work/lint.log" >&2; fail "helm lint --strict ($name)"; }
    # shellcheck disable=SC2086
    "$helm" template "$release" "$chart" --namespace "$namespace" --kube-version "$k8s_version" \
      $args >"$work/rendered/$name.yaml" || fail "helm template ($name)"
    kubeconform_strict "$work/rendered/$name.yaml" >"$work/kc.log" 2>&1 ||
      { cat "$work/kc.log" >&2; fail "kubeconform ($name)"; }
    say "$name: lint, template, kubeconform: $(tail -n 1 "$work/kc.log")"
  done
  # The PrometheusRule and the dashboards' ConfigMap carry deploy/monitoring
  # as it is (the chart's files/ links to it; helm follows the links).
  python3 - "$work/rendered/monitoring.yaml" <<'PY' || fail "the chart's monitoring objects differ from deploy/monitoring"
import glob, json, os, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
rule = next(d for d in docs if d["kind"] == "PrometheusRule")
assert rule["spec"] == yaml.safe_load(open("deploy/monitoring/webtoon-rules.yaml")), "rules"
board = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-dashboards"))
files = {os.path.basename(f): json.load(open(f)) for f in glob.glob("deploy/monitoring/dashboards/*.json")}
assert files and {k: json.loads(v) for k, v in board["data"].items()} == files, "dashboards"
PY
  say "monitoring: the PrometheusRule and the dashboards are deploy/monitoring's"
  # The log pipelines (no promtail or Alloy here to load them): promtail's
  # is YAML with the stages docs/OBSERVABILITY.md#logs describes; both make
  # labels of level and service, and of traceId only when asked to.
  python3 - "$work/rendered/logging.yaml" "$work/rendered/logging-metadata.yaml" <<'PY' || fail "the chart's log pipelines"
import sys, yaml
for path, trace in ((sys.argv[1], "label"), (sys.argv[2], "structuredMetadata")):
    docs = {d["metadata"]["name"]: d for d in yaml.safe_load_all(open(path)) if d and d["kind"] == "ConfigMap"}
    [job] = yaml.safe_load(docs["webtoon-promtail"]["data"]["webtoon-scrape-configs.yaml"])
    stages = job["pipeline_stages"]
    assert [next(iter(s)) for s in stages][:4] == ["cri", "json", "timestamp", "labels"], stages
    assert stages[1]["json"]["expressions"] == {"level": "level", "service": "service", "traceId": "traceId", "time": "time"}
    labels = set(stages[3]["labels"])
    assert labels == ({"level", "service", "traceId"} if trace == "label" else {"level", "service"}), labels
    assert (trace == "structuredMetadata") == any("structured_metadata" in s for s in stages), stages
    alloy = docs["webtoon-alloy"]["data"]["webtoon.alloy"]
    assert 'declare "logs"' in alloy and 'loki.process "webtoon"' in alloy and "stage.json" in alloy, alloy
    assert ('traceId = ""' in alloy.split("stage.labels")[1].split("}")[0]) == (trace == "label"), alloy
    assert ("stage.structured_metadata" in alloy) == (trace == "structuredMetadata"), alloy
    assert alloy.count("{") == alloy.count("}"), "unbalanced braces in the Alloy module"
PY
  say "logging: promtail's and Alloy's pipelines label level and service (traceId as asked)"
  # The operators' own objects: no schema offline (see above); they must
  # at least parse as Kubernetes objects.
  deploy/helm/examples/operators/keycloak-realm-import.sh https://webtoon.example.com >"$work/realm-import.yaml"
  kubeconform_strict -ignore-missing-schemas "$examples"/operators/*.yaml "$work/realm-import.yaml" \
    >"$work/kc.log" 2>&1 ||
    { cat "$work/kc.log" >&2; fail "kubeconform (operator examples)"; }
  say "operator examples parse: $(tail -n 1 "$work/kc.log")"

  checkov_run kubernetes "$work"/rendered/*.yaml >"$work/checkov.log" 2>&1 ||
    { cat "$work/checkov.log" >&2; fail "checkov on the rendered chart"; }
  say "checkov (kubernetes): $(grep -m1 'Passed checks' "$work/checkov.log")"
  [ -f Containerfile ] || fail "no Containerfile"
  # checkov recognises a Dockerfile by its name only.
  mkdir -p "$work/containerfile"
  cp Containerfile "$work/containerfile/Dockerfile"
  checkov_run dockerfile "$work/containerfile/Dockerfile" >"$work/checkov.log" 2>&1 ||
    { cat "$work/checkov.log" >&2; fail "checkov on the Containerfile"; }
  say "checkov (dockerfile): $(grep -m1 'Passed checks' "$work/checkov.log")"
  "$actionlint" .github/workflows/*.yml || fail "actionlint"
  say "actionlint: .github/workflows clean"
}

# must_fail <what> <expected message> <command>...: the command fails and
# says why (a failure for any other reason, a missing file say, proves
# nothing about the linter).
must_fail() {
  label=$1 expected=$2
  shift 2
  if "$@" >"$work/broken.log" 2>&1; then
    cat "$work/broken.log" >&2
    fail "$label passed on a broken input"
  fi
  grep -qF -- "$expected" "$work/broken.log" ||
    { cat "$work/broken.log" >&2; fail "$label failed, but not with \"$expected\""; }
  say "$label fails as it should: $expected"
}

check_broken() {
  make_schemas
  must_fail "helm lint (values against the schema)" "got string, want integer" \
    "$helm" lint --strict "$chart" --kube-version "$k8s_version" -f "$broken/values-wrong-type.yaml"
  # helm lint only logs a template's `fail`; helm template (and install) stop on it.
  must_fail "helm template (contradictory values)" "the built-in issuer runs only without one" \
    "$helm" template "$release" "$chart" --kube-version "$k8s_version" -f "$broken/values-two-issuers.yaml"
  must_fail "kubeconform (wrong type)" "at '/spec/replicas': got string, want null or integer" \
    kubeconform_strict "$broken/deployment-wrong-type.yaml"
  must_fail "kubeconform (unknown field)" "additional properties 'livenessprobe' not allowed" \
    kubeconform_strict "$broken/deployment-unknown-field.yaml"
  must_fail "checkov (privileged pod)" "CKV_K8S_16" \
    checkov_run kubernetes "$broken/pod-privileged.yaml"
  mkdir -p "$work/broken-dockerfile"
  cp "$broken/Containerfile-root" "$work/broken-dockerfile/Dockerfile"
  must_fail "checkov (image running as root)" "CKV_DOCKER_3" \
    checkov_run dockerfile "$work/broken-dockerfile/Dockerfile"
  must_fail "actionlint (bad workflow)" "property \"nope\" is not defined" \
    "$actionlint" "$broken/workflow-bad.yml"
}

case "$what" in
  good) check_good ;;
  broken) check_broken ;;
  all)
    check_good
    check_broken
    ;;
esac
say "all passed"
