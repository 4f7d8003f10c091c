#!/usr/bin/env bash
# Installs what building and testing Shoal needs on Debian/Ubuntu, if missing:
# nasm + autotools (ISA-L is built from source), clang/libclang (bindgen), openssl
# (test certificates), python3-venv (client tests), curl (presigned URL tests), rclone
# (client tests), haproxy and nginx (the load balancer configurations' tests run their
# own processes; where systemd runs, the packages also start their services: stop them
# with `systemctl disable --now haproxy nginx` if unwanted), strace (the client test
# that shard threads make no blocking file syscall), iptables (test_cluster.py cuts a
# node off from its peers with loopback rules).
set -euo pipefail
packages=(nasm autoconf automake libtool pkg-config clang libclang-dev openssl python3-venv curl rclone haproxy nginx strace iptables)
missing=()
for pkg in "${packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
# python3-venv may be satisfied by a non-Debian Python that has venv built in.
if [[ " ${missing[*]} " == *" python3-venv "* ]] && python3 -c 'import venv, ensurepip' 2>/dev/null; then
    missing=("${missing[@]/python3-venv}")
fi
read -ra missing <<<"${missing[*]}"
if ((${#missing[@]} == 0)); then
    exit 0
fi
sudo=""
if [[ $(id -u) != 0 ]]; then
    sudo="sudo"
fi
echo "deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
