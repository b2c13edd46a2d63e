# syntax=docker/dockerfile:1
#
# The secret-injector image with BuildKit, one platform or several:
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg VERSION=v0.1.0 --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) \
#     -t ghcr.io/tradepulse/secret-injector:v0.1.0 .
#
# `make image` builds the same image without a Docker engine (hack/image);
# hack/image/dockerfile_test.go keeps this file to the same contract: the
# binary at /usr/local/bin/secret-injector (the entrypoint), the agent-only
# binary the injected containers run at /usr/local/bin/secret-injector-agent,
# the CA bundle, nonroot 65532, no shell.

ARG GO_VERSION=1.26

# The builder runs on the build machine's platform and cross-compiles.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
ARG TARGETOS
ARG TARGETARCH
ARG VERSION=dev
# The commit and its time (Unix seconds), for `version` and
# secret_injector_build_info.
ARG REVISION=
ARG SOURCE_DATE_EPOCH=
# Build tags leaving backends out of the agent (Makefile AGENT_TAGS), e.g.
# agent_nogcp,agent_noaws for a cluster that enables only Vault.
ARG AGENT_TAGS=
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -trimpath -tags "${AGENT_TAGS}" -ldflags "-s -w \
      -X github.com/tradepulse/secret-injector/internal/buildinfo.version=${VERSION} \
      -X github.com/tradepulse/secret-injector/internal/buildinfo.commit=${REVISION} \
      -X github.com/tradepulse/secret-injector/internal/buildinfo.date=${SOURCE_DATE_EPOCH}" \
      -o /out/ ./cmd/secret-injector ./cmd/secret-injector-agent

FROM scratch
ARG VERSION=dev
ARG REVISION=
LABEL org.opencontainers.image.title="secret-injector" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/tradepulse/secret-injector"
# Debian's ca-certificates bundle, from the golang image.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY hack/image/rootfs/etc/passwd /etc/passwd
COPY hack/image/rootfs/etc/group /etc/group
COPY --from=build --chmod=0755 /out/secret-injector /usr/local/bin/secret-injector
COPY --from=build --chmod=0755 /out/secret-injector-agent /usr/local/bin/secret-injector-agent
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
WORKDIR /
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/secret-injector"]
