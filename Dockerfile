# The shipmix image: built from source in a Rust image, run from a
# distroless one (glibc and CA certificates, no shell, non-root).
#
#   docker build -t shipmix .
#   docker run -p 8080:8080 -e SHIPMIX_LISTEN=0.0.0.0:8080 shipmix serve --demo --data-dir /tmp/data
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# Release build of the binary only; the workspace's tests and benches stay out.
RUN cargo build --release --locked -p api --bin shipmix \
 && cp target/release/shipmix /shipmix \
 && strip /shipmix

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /shipmix /usr/local/bin/shipmix
USER 65532:65532
EXPOSE 8080
ENV SHIPMIX_LISTEN=0.0.0.0:8080
ENTRYPOINT ["/usr/local/bin/shipmix"]
CMD ["serve"]
