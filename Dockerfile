# keyledger: one static-ish binary (cgo for SQLite) on a slim base.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=1 go build -trimpath -ldflags="-s -w" -o /out/keyledger ./cmd/keyledger

FROM debian:bookworm-slim
# /keys: where `keyledger nats-keys` writes the cluster's shared keys (compose).
RUN useradd --system --home /data keyledger && mkdir /data /keys && chown keyledger /data /keys
COPY --from=build /out/keyledger /usr/local/bin/keyledger
USER keyledger
WORKDIR /data
EXPOSE 8080 4222
ENTRYPOINT ["keyledger"]
CMD ["serve", "--data", "/data", "--http", "0.0.0.0:8080", "--nats-listen", "0.0.0.0:4222"]
