#!/usr/bin/env bash
# Builds the release binary as one static executable: x86_64-unknown-linux-musl, ISA-L
# built from source and linked in, no shared library needed at run time (it runs in a
# `FROM scratch` image). Prints where the binary is, its size, and what `file` and `ldd`
# say about it; fails if either finds a dynamic dependency.
#
# Why musl and not static glibc: a fully static glibc binary still dlopen()s NSS modules
# for getaddrinfo, so it cannot resolve host names (Kubernetes peers such as
# shoal-0.shoal-hl...) in an image with no libc; musl resolves them itself. musl's
# malloc is slower than glibc's, which the data path barely feels: buffers come from
# per-shard pools made at start (DESIGN.md §8).
#
# Installs what it needs if missing: the rustup musl target and Debian's musl-tools (the
# C compiler wrapper for ISA-L's and ring's C code), plus scripts/deps.sh's packages.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target=x86_64-unknown-linux-musl

"$root/scripts/deps.sh"
if ! command -v musl-gcc >/dev/null || ! command -v file >/dev/null; then
    sudo=""
    [[ $(id -u) == 0 ]] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq musl-tools file >/dev/null
fi
if ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target"
fi

# The C parts (ISA-L through autotools, ring through cc) compile with musl's wrapper;
# bindgen parses ISA-L's headers against musl's, not glibc's, include folder.
export CC_x86_64_unknown_linux_musl=musl-gcc
export BINDGEN_EXTRA_CLANG_ARGS_x86_64_unknown_linux_musl="-I/usr/include/x86_64-linux-musl"
# musl links statically by default; saying so keeps it static if that default changes.
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_RUSTFLAGS="-C target-feature=+crt-static"

started_s=$(date +%s)
cargo build --release --locked --target "$target" --bin shoal --manifest-path "$root/Cargo.toml"
elapsed_s=$(($(date +%s) - started_s))

binary="${CARGO_TARGET_DIR:-$root/target}/$target/release/shoal"
size_bytes=$(stat -c %s "$binary")
echo "release: built in ${elapsed_s}s"
echo "release: binary $binary"
echo "release: size $size_bytes bytes ($((size_bytes / 1048576)) MiB)"
echo "release: version: $("$binary" --version)"
file_says=$(file -b "$binary")
echo "release: file: $file_says"
# ldd exits non-zero for a static executable ("not a dynamic executable"): expected.
ldd_says=$(ldd "$binary" 2>&1 || true)
echo "release: ldd: $ldd_says"
if [[ "$file_says" != *"static"* ]] || [[ "$file_says" == *"dynamically linked"* ]]; then
    echo "release: FAILED: file does not call the binary static" >&2
    exit 1
fi
if [[ "$ldd_says" != *"not a dynamic executable"* && "$ldd_says" != *"statically linked"* ]]; then
    echo "release: FAILED: ldd lists shared libraries" >&2
    exit 1
fi
