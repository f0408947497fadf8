# rancher-ecr-credentials: the static release binary on an empty image.
#
#   scripts/release && scripts/image        (linux/amd64 and linux/arm64)
#
# Nothing is compiled here: each platform's image gets the binary that
# scripts/release built and the tests ran (arm64 under qemu), copied from
# dist/ by TARGETARCH (buildx sets it), so a multi-arch build needs no
# emulated compiler. The image holds that binary, CA certificates (for AWS
# and an https Rancher) and nothing else, and runs as an unprivileged user.

# CA certificates are the same on every platform: fetch them natively.
FROM --platform=$BUILDPLATFORM alpine:3.22 AS certificates
# hadolint ignore=DL3018
RUN apk add --no-cache ca-certificates

FROM scratch
ARG TARGETARCH
ARG VERSION=unknown
ARG REVISION=unknown
LABEL org.opencontainers.image.title="rancher-ecr-credentials" \
      org.opencontainers.image.description="Keeps Amazon ECR pull credentials fresh in Rancher 1.6 registries" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/rancher-ecr-credentials/rancher-ecr-credentials"
COPY --from=certificates /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY dist/rancher-ecr-credentials-linux-${TARGETARCH} /rancher-ecr-credentials
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
