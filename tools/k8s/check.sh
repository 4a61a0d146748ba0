#!/usr/bin/env bash
# Renders every kustomization under infra/k8s (the examples, each pipeline overlay, the bases) and
# checks every object strictly against the pinned Kubernetes API and the KEDA / Prometheus Operator
# CRDs: unknown fields, wrong types and kinds without a schema all fail. Run by `make k8s-check`.
set -euo pipefail
: "${KUBECONFORM:?}" "${K8S_SCHEMAS:?}" "${K8S_VERSION:?}" "${KUSTOMIZE:?}"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
dirs=(infra/k8s/examples infra/k8s/pipelines/* infra/k8s/base/worker infra/k8s/base/serve)
for dir in "${dirs[@]}"; do
  # The ConfigMaps are made from the repository's pipelines/*.yaml, outside infra/k8s.
  $KUSTOMIZE --load-restrictor LoadRestrictionsNone "$dir" > "$out/$(echo "$dir" | tr / _).yaml"
done
"$KUBECONFORM" -strict -summary -output text -kubernetes-version "$K8S_VERSION" \
  -schema-location "$K8S_SCHEMAS/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" \
  "$out"/*.yaml
