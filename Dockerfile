# syntax=docker/dockerfile:1
# streamscore: `docker build -t streamscore --build-arg GIT_COMMIT=$(git rev-parse --short=12 HEAD) .`
# Three stages: build (dev dependencies, TypeScript → dist/), deps (production dependencies only),
# runtime (node, tini, dist/, the production node_modules, schemas/ and the example pipelines with
# their models). README "Deploying" has the contents and sizes.

# NODE_IMAGE is the Node.js base of every stage (Debian 12 slim: glibc, as onnxruntime-node needs).
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
# onnxruntime-node's install script would download CUDA libraries: not needed (CPU build bundled).
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json .npmrc ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY workers ./workers
COPY tools/build-info.mjs ./tools/build-info.mjs
# GIT_COMMIT is the commit `streamscore --version` prints (the build context has no .git).
ARG GIT_COMMIT=""
RUN STREAMSCORE_GIT_COMMIT="${GIT_COMMIT}" npm run build

FROM ${NODE_IMAGE} AS deps
ARG TARGETARCH
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY tools/image/production-deps.sh /usr/local/bin/production-deps
RUN production-deps "${TARGETARCH:-amd64}" && npm cache clean --force

FROM ${NODE_IMAGE} AS runtime
# tini as PID 1: signals reach the worker (SIGTERM drains: in-flight batches are written and
# committed, then it exits 0) and exited children are reaped.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 streamscore \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin streamscore
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json LICENSE README.md ./
COPY schemas ./schemas
# The example pipelines and their models (pipelines/models/<name>/<version>/). Mount your own over
# /app/pipelines (or one file over /app/pipelines/pipeline.yaml, as infra/k8s does).
COPY pipelines ./pipelines
RUN ln -s /app/dist/workers/cli/main.js /usr/local/bin/streamscore
USER 10001:10001
# Worker metrics/health (monitoring.port) and the serve API's default port.
EXPOSE 9464 8080
ENTRYPOINT ["/usr/bin/tini", "--", "streamscore"]
CMD ["--help"]
