# syntax=docker/dockerfile:1
# Palisade's container image: a static binary on a distroless base, run as
# a fixed non-root user with the data directory as its only writable place.
#   docker build -t palisade --build-arg COMMIT=$(git rev-parse HEAD) .
#   docker run --read-only --cap-drop ALL --security-opt no-new-privileges:true \
#     -v palisade-data:/data -p 8080:8080 palisade

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download && go mod verify
COPY . .
ARG COMMIT=unknown
ARG COMMIT_DATE=unknown
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -X github.com/palisadehq/palisade/internal/cli.linkedCommit=${COMMIT} -X github.com/palisadehq/palisade/internal/cli.linkedDate=${COMMIT_DATE}" \
      -o /out/palisade ./cmd/palisade \
 && mkdir -p /out/data && chmod 0700 /out/data

# distroless/static: CA certificates, tzdata and /etc/passwd, no shell and
# no package manager. Its "nonroot" user is UID and GID 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/palisade /usr/local/bin/palisade
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
ENV PALISADE_DATA_DIR=/data \
    PALISADE_ADDR=0.0.0.0:8080 \
    PALISADE_ADMIN_ADDR=0.0.0.0:9090
VOLUME ["/data"]
EXPOSE 8080 9090
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/palisade", "healthcheck", "--url", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/palisade"]
CMD ["serve"]
