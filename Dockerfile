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
# CGO off: a static binary that needs no libc in the final image.
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/clerksync ./cmd/clerksync

# distroless/static: CA certificates (rediss://, sslmode=require), tzdata,
# /etc/passwd with the nonroot user, and nothing else: no shell, no package
# manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/clerksync /usr/local/bin/clerksync
USER nonroot:nonroot
ENV LISTEN_ADDR=:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/clerksync"]
CMD ["run"]
