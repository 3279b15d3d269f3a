# tend: a static init and supervisor. Build the static binary, then ship it
# alone in an empty image.
#
#   docker build -t tend .
#
# Use it in your own image (the usual way):
#   COPY --from=tend /tend /usr/local/bin/tend
#   ENTRYPOINT ["/usr/local/bin/tend", "--"]
#   CMD ["your-app", "--flag"]
#
# Or base an image on it and let /tend run the apps of /etc/tend/init.toml.
#
# With a binary built outside (no Rust toolchain image at hand), put it in
# the build context as ./tend and pass --build-arg TEND_FROM=prebuilt; the
# Rust stage is then skipped.

ARG TEND_FROM=build

FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
COPY src src
# .cargo/config.toml sets the musl target and crt-static: the result is static.
RUN rustup target add x86_64-unknown-linux-musl \
 && cargo build --release --locked \
 && cp target/x86_64-unknown-linux-musl/release/tend /tend

FROM scratch AS prebuilt
COPY tend /tend

FROM ${TEND_FROM} AS binary

FROM scratch
COPY --from=binary /tend /tend
ENTRYPOINT ["/tend"]
