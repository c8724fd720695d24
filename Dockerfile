# clerksync: one static binary on a distroless base.
#   docker build -t clerksync .
#   docker run --rm -p 8080:8080 -e DATABASE_URL=... -e REDIS_URL=... \
#     -e CLERK_WEBHOOK_SIGNING_SECRET=whsec_... clerksync          # run (migrate, serve, work)
#   docker run ... clerksync serve | work | migrate | import -     # one role

FROM golang:1.26 AS build
WORKDIR /src
# Modules first, so that a code change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The build context leaves out .git, so Go cannot stamp the commit itself:
#   docker build --build-arg COMMIT=$(git rev-parse HEAD) --build-arg VERSION=v1.2.3 .
# (clerksync version and clerksync_build_info show them; "unknown" without).
ARG VERSION=
ARG COMMIT=
# CGO off: a static binary that needs no libc in the final image.
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/clerksync ./cmd/clerksync

# distroless/static: CA certificates (rediss://, sslmode=require), tzdata,
# /etc/passwd with the nonroot user, and nothing else: no shell, no package
# manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/clerksync /usr/local/bin/clerksync
USER nonroot:nonroot
ENV LISTEN_ADDR=:8080
EXPOSE 8080
# No shell or curl here: the binary asks its own /readyz (Postgres and Redis
# answer). One-shot commands serve no /readyz: migrate and a small import exit
# before the first check, but a backfill, a reconcile or a large import would
# be marked unhealthy, so run those with docker run --no-healthcheck.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["/usr/local/bin/clerksync", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/clerksync"]
CMD ["run"]
