# A small image of cdnquota: built in one stage, run from a slim base as a
# non-root user. Mount the config at /etc/cdnquota/cdnquota.toml and a
# volume at /var/lib/cdnquota for state. The daemon runs as uid 10001, so
# the mounted config and key file must be readable by that uid (see the
# README: the key owned by 10001, mode 400).
FROM rust:1-bookworm AS build
WORKDIR /src
# The workspace: the daemon and its crates (core, client, simulator; the
# simulator is left out of the build by --no-default-features, as in the
# packages). The manifest names the benchmark, so its file comes along.
COPY Cargo.toml Cargo.lock build.rs ./
COPY crates ./crates
COPY src ./src
COPY benches ./benches
ARG CDNQUOTA_REVISION=unknown
RUN CDNQUOTA_REVISION=$CDNQUOTA_REVISION cargo build --release --locked --no-default-features --bin cdnquota

FROM debian:bookworm-slim
# ca-certificates: the API and SMTP relays are verified against them.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/cdnquota --create-home cdnquota
COPY --from=build /src/target/release/cdnquota /usr/bin/cdnquota
USER 10001
VOLUME /var/lib/cdnquota
EXPOSE 10787
# In a container, listen on all interfaces: set listen = "0.0.0.0:10787".
ENTRYPOINT ["/usr/bin/cdnquota"]
CMD ["run", "-c", "/etc/cdnquota/cdnquota.toml"]
