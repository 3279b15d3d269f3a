# tend: a static init and supervisor. Two stages: build the static binary,
# then ship it alone.
#
#   docker build -t tend .
#
# Use it in your own image (the usual way):
#   COPY --from=tend /tend /usr/local/bin/tend
#   ENTRYPOINT ["/usr/local/bin/tend", "--"]
#   CMD ["your-app", "--flag"]
#
# Or base an image on it and let /tend run the apps of /etc/tend/init.toml.

FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
COPY src src
# .cargo/config.toml sets the target and crt-static: the result is static.
RUN cargo build --release --locked \
 && cp target/x86_64-unknown-linux-gnu/release/tend /tend

FROM scratch
COPY --from=build /tend /tend
ENTRYPOINT ["/tend"]
