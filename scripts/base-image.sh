#!/usr/bin/env bash
# The stack's images without a public registry (docs/development.md "Containers offline"):
#
#   scripts/base-image.sh                    the Debian base image authstack-base:bookworm, from Debian's own
#                                            packages (debootstrap --variant=minbase | docker import), unless the
#                                            engine already has it
#   scripts/base-image.sh --binaries DIR     also stage DIR's release binaries (swift build -c release
#                                            --static-swift-stdlib) and the toolchain's crash reporter in .docker-bin/
#
# Then: AUTHSTACK_RUNTIME_IMAGE=authstack-base:bookworm AUTHSTACK_BINARIES=prebuilt docker compose build
# (scripts/compose-test.sh does it). With a registry none of this is needed: compose.yaml's defaults pull
# debian:bookworm-slim and compile in swift:6.3-bookworm.
#
# Needs root for debootstrap. DEBIAN_MIRROR overrides the mirror (default: the one apt uses here).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
IMAGE=${AUTHSTACK_RUNTIME_IMAGE:-authstack-base:bookworm}
fail() {
    echo "base-image: $*" >&2
    exit 1
}

binaries=""
while (($#)); do
    case "$1" in
        --binaries) binaries=${2:?--binaries needs a directory}; shift 2 ;;
        *) fail "unknown argument $1 (usage: scripts/base-image.sh [--binaries DIR])" ;;
    esac
done

docker info >/dev/null 2>&1 || fail "no Docker engine answers (docker info)"

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "base-image: $IMAGE exists"
else
    command -v debootstrap >/dev/null || fail "debootstrap is missing (apt-get install -y debootstrap)"
    mirror=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)}
    mirror=${mirror:-http://deb.debian.org/debian}
    rootfs=$(mktemp -d)
    trap 'rm -rf "$rootfs"' EXIT
    started=$SECONDS
    debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
        || { tail -n 20 "$rootfs.log" >&2; fail "debootstrap failed"; }
    rm -f "$rootfs.log"
    # apt inside the image builds: the same mirror, and no caches in the layer.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import --change 'CMD ["/bin/bash"]' - "$IMAGE" >/dev/null
    echo "base-image: $IMAGE made from $mirror in $((SECONDS - started)) s"
fi

if [[ -n "$binaries" ]]; then
    staging="$ROOT/.docker-bin"
    rm -rf "$staging"
    mkdir -p "$staging"
    for program in identity-service notes-service key-service authctl; do
        [[ -x "$binaries/$program" ]] || fail "no $program in $binaries (swift build -c release --static-swift-stdlib)"
        # Static Swift runtime: the image has no toolchain to find libswiftCore.so in.
        if ldd "$binaries/$program" | grep -q 'libswiftCore'; then
            fail "$binaries/$program links the Swift runtime dynamically; build with --static-swift-stdlib"
        fi
        cp "$binaries/$program" "$staging/"
    done
    swift_bin=$(dirname "$(readlink -f "$(command -v swift)")")
    cp "$swift_bin/../libexec/swift/linux/swift-backtrace-static" "$staging/" \
        || fail "no swift-backtrace-static next to the toolchain ($swift_bin/../libexec/swift/linux)"
    echo "base-image: staged $(du -sh "$staging" | cut -f1) of binaries in .docker-bin/"
fi
