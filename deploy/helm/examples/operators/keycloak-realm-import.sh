#!/bin/sh
# Prints a KeycloakRealmImport (Keycloak operator) of the realm webtoon, made
# from deploy/keycloak/webtoon-realm.json, the realm `make run-distributed`
# imports, so the cluster and a local run share one definition. The web
# app's redirect URIs and origins become those of PUBLIC_URL (where the
# browser reaches the store); the secret of the client webtoon-cli comes,
# at import time, from the Secret webtoon-cli-client (key client-secret)
# through the operator's placeholders, never from this output.
#
#   deploy/helm/examples/operators/keycloak-realm-import.sh PUBLIC_URL [NAMESPACE] | kubectl apply -f -
set -eu
[ "$#" -ge 1 ] || { echo "usage: $0 PUBLIC_URL [NAMESPACE]" >&2; exit 2; }
realm="$(cd "$(dirname "$0")/../../.." && pwd)/keycloak/webtoon-realm.json"
# JSON is YAML: the realm goes in as one flow mapping.
python3 - "$realm" "$1" "${2:-webtoon}" <<'PY'
import json
import sys

realm_file, url, namespace = sys.argv[1], sys.argv[2].rstrip("/"), sys.argv[3]
with open(realm_file) as f:
    realm = json.load(f)
for client in realm["clients"]:
    if client["clientId"] == "webtoon-web":
        client["redirectUris"] = [url + "/callback"]
        client["webOrigins"] = [url]
        client["attributes"]["post.logout.redirect.uris"] = url + "/"
doc = {
    "apiVersion": "k8s.keycloak.org/v2alpha1",
    "kind": "KeycloakRealmImport",
    "metadata": {"name": "webtoon-realm", "namespace": namespace},
    "spec": {
        "keycloakCRName": "webtoon-keycloak",
        "placeholders": {
            "WEBTOON_CLI_CLIENT_SECRET": {"secret": {"name": "webtoon-cli-client", "key": "client-secret"}}
        },
        "realm": realm,
    },
}
print("# Made by keycloak-realm-import.sh from deploy/keycloak/webtoon-realm.json.")
print(json.dumps(doc, indent=2))
PY
