#!/usr/bin/env bash
# Builds the OCI image of Shoal with buildah (no daemon): FROM scratch, holding only the
# static binary of scripts/release.sh as /shoal. Entrypoint /shoal, default arguments
# `server /data` (so `podman run IMAGE` serves one drive at /data, and `podman run
# IMAGE --version` or Kubernetes `args:` replace them); volume /data; port 9000; user
# 1000:1000; labels for version, commit and licence read from the binary itself.
#
# No CA certificates: the server makes no outgoing TLS connection (it serves TLS with
# --certs-dir, from a mounted folder).
#
#   SHOAL_BIN            binary to package (default: build it with scripts/release.sh)
#   SHOAL_IMAGE          image name (default: localhost/shoal:VERSION)
#   SHOAL_IMAGE_ARCHIVE  also write the image as an OCI archive to this file
#   STORAGE_DRIVER       buildah storage driver; `vfs` where overlay mounts are refused
# Needs root (or a user set up for rootless buildah) and Debian's buildah package.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

if ! command -v buildah >/dev/null; then
    sudo=""
    [[ $(id -u) == 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq buildah >/dev/null
fi

binary="${SHOAL_BIN:-}"
if [[ -z "$binary" ]]; then
    "$root/scripts/release.sh"
    binary="${CARGO_TARGET_DIR:-$root/target}/x86_64-unknown-linux-musl/release/shoal"
fi
# A FROM scratch image has no libc: a dynamically linked binary would not even start.
if ! file -b "$binary" | grep -q "static"; then
    echo "image: $binary is not a static executable (build it with scripts/release.sh)" >&2
    exit 1
fi

# "shoal 0.1.0 (commit 1a2b3c4, release, x86_64-unknown-linux-musl)"
version_line=$("$binary" --version)
version=$(sed -E 's/^shoal ([^ ]+) .*/\1/' <<<"$version_line")
commit=$(sed -E 's/.*\(commit ([^,]+),.*/\1/' <<<"$version_line")
image="${SHOAL_IMAGE:-localhost/shoal:$version}"

ctr=$(buildah from scratch)
trap 'buildah rm "$ctr" >/dev/null' EXIT
buildah copy --quiet --chmod 0755 "$ctr" "$binary" /shoal
# /data exists in the image, owned by the user the server runs as, so a volume mounted
# there starts out writable for it (podman copies the ownership to a new named volume).
empty=$(mktemp -d)
buildah copy --quiet --chown 1000:1000 "$ctr" "$empty" /data
rmdir "$empty"
buildah config \
    --entrypoint '["/shoal"]' \
    --cmd '["server", "/data"]' \
    --user 1000:1000 \
    --workingdir / \
    --port 9000/tcp \
    --volume /data \
    --label org.opencontainers.image.title=shoal \
    --label "org.opencontainers.image.description=S3-compatible, erasure-coded, thread-per-core object store" \
    --label "org.opencontainers.image.version=$version" \
    --label "org.opencontainers.image.revision=$commit" \
    --label org.opencontainers.image.licenses=Apache-2.0 \
    "$ctr"
buildah commit --quiet "$ctr" "$image" >/dev/null
echo "image: built $image ($version_line)"
if [[ -n "${SHOAL_IMAGE_ARCHIVE:-}" ]]; then
    buildah push --quiet "$image" "oci-archive:$SHOAL_IMAGE_ARCHIVE:$image"
    echo "image: written to $SHOAL_IMAGE_ARCHIVE"
fi
