# rancher-ecr-credentials: a static binary on an empty image.
#
#   docker build -t rancher-ecr-credentials .
#
# The runtime image holds the binary, CA certificates (for AWS and an https
# Rancher) and nothing else. It runs as an unprivileged user (65532).

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-alpine AS build
# musl makes a fully static binary; ring (TLS crypto) needs a C compiler.
# hadolint ignore=DL3018
RUN apk add --no-cache build-base ca-certificates
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# benches/ only because Cargo.toml names the benchmark; it is not built.
COPY src ./src
COPY benches ./benches
RUN cargo build --release --locked \
    && cp target/release/rancher-ecr-credentials /rancher-ecr-credentials

FROM scratch
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="rancher-ecr-credentials" \
      org.opencontainers.image.description="Keeps Amazon ECR pull credentials fresh in Rancher 1.6 registries" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/rancher-ecr-credentials/rancher-ecr-credentials"
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /rancher-ecr-credentials /rancher-ecr-credentials
# Shared AWS credentials: mount them at /home/app/.aws (readable by 65532),
# or anywhere with AWS_SHARED_CREDENTIALS_FILE/AWS_CONFIG_FILE (see README).
ENV HOME=/home/app
USER 65532:65532
# /ping (liveness), /healthz (freshness), /metrics
EXPOSE 8080
# Liveness only (/ping): a bad key shows on /healthz, it must not make the
# container unhealthy-and-restarted.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
    CMD ["/rancher-ecr-credentials", "--health-probe"]
ENTRYPOINT ["/rancher-ecr-credentials"]
