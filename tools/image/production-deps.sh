#!/bin/sh
# The image's runtime dependencies, in the current folder (package.json + package-lock.json): the
# production ones only, no install scripts (onnxruntime-node's would download CUDA libraries; its
# CPU build is in the package), then without what a Linux image of this architecture never loads:
# onnxruntime-node's binaries for macOS, Windows and the other architecture (~260 MB).
# Used by the Dockerfile and by test/e2e/image-runtime.test.ts, which runs the result.
# usage: production-deps.sh [x64|arm64|amd64]   (default: this machine's)
set -eu
arch=${1:-$(node -p process.arch)}
[ "$arch" = amd64 ] && arch=x64
ONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error
for dir in node_modules/onnxruntime-node/bin/napi-v*/*; do
  [ "$(basename "$dir")" = linux ] || rm -rf "$dir"
done
for dir in node_modules/onnxruntime-node/bin/napi-v*/linux/*; do
  [ "$(basename "$dir")" = "$arch" ] || rm -rf "$dir"
done
test -f node_modules/onnxruntime-node/bin/napi-v*/linux/"$arch"/onnxruntime_binding.node
