#!/usr/bin/env bash
# Build aspen-base:<tag>, a Debian bookworm image made with debootstrap, for machines where no
# image registry answers (so `python:3.11-slim` cannot be pulled).
#
# Usage: docker/base/build.sh [--force] [--print-tag]
#   --print-tag  print the image reference this script would build, and exit (no Docker needed)
#   --force      rebuild even when the image already exists
#
# Idempotent: the tag is a content hash of this script (which holds the suite and the package
# list), so an existing aspen-base:<tag> is reused. Progress goes to stderr; the last line on
# stdout is the image reference (also tagged aspen-base:latest).
#
# Environment: DEBIAN_MIRROR (default http://deb.debian.org/debian; does not change the tag),
# ASPEN_BASE_REPO (default aspen-base).
#
# Needs root (debootstrap), and installs debootstrap with apt-get when it is missing.
set -euo pipefail

SUITE=bookworm # its python3 is 3.11, the version the node image and the host wheels expect
# ca-certificates for TLS; nftables and iproute2 for the lab's network faults; procps for ps/kill.
PACKAGES=python3,python3-venv,nftables,iproute2,procps,ca-certificates
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
REPO=${ASPEN_BASE_REPO:-aspen-base}

force=0
print_tag=0
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        --print-tag) print_tag=1 ;;
        -h | --help)
            sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "build.sh: unknown argument: $arg" >&2
            exit 2
            ;;
    esac
done

log() { echo "[aspen-base] $*" >&2; }

tag=$(sha256sum "$0" | cut -c1-12)
image="$REPO:$tag"
if ((print_tag)); then
    echo "$image"
    exit 0
fi

if ((!force)) && docker image inspect "$image" >/dev/null 2>&1; then
    log "$image exists; nothing to do"
    echo "$image"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    log "debootstrap needs root"
    exit 1
fi
if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
fi

workdir=$(mktemp -d /var/tmp/aspen-base.XXXXXX)
root="$workdir/rootfs"
cleanup() {
    # debootstrap unmounts what it mounted, unless it was interrupted: never rm across a mount.
    for m in dev/pts dev proc sys; do
        if mountpoint -q "$root/$m" 2>/dev/null; then umount -l "$root/$m" || true; fi
    done
    rm -rf --one-file-system "$workdir"
}
trap cleanup EXIT

start=$SECONDS
log "debootstrap $SUITE ($PACKAGES) from $MIRROR"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$MIRROR" \
    >"$workdir/debootstrap.log" 2>&1 || {
    tail -n 30 "$workdir/debootstrap.log" >&2
    exit 1
}
log "debootstrap took $((SECONDS - start)) s"

# Keep later `apt-get install`s in containers as lean as this cleaning leaves the image.
cat >"$root/etc/dpkg/dpkg.cfg.d/aspen-minimal" <<'EOF'
path-exclude /usr/share/doc/*
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
cat >"$root/etc/apt/apt.conf.d/aspen-minimal" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
EOF
# A container gets its resolv.conf and hostname from Docker; the build host's do not belong here.
: >"$root/etc/resolv.conf"
: >"$root/etc/hostname"

rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/var/log/* "$root"/tmp/* "$root"/var/tmp/* "$root"/root/.cache
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
find "$root" -xdev -name __pycache__ -type d -prune -exec rm -rf {} +

python_version=$(chroot "$root" python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
log "python3 in the image is $python_version; importing into Docker"

created=$(date -u +%Y-%m-%dT%H:%M:%SZ)
tar --numeric-owner -C "$root" -c . | docker import \
    --change "LABEL org.opencontainers.image.title=aspen-base" \
    --change "LABEL org.opencontainers.image.description=\"Debian $SUITE minbase with $PACKAGES\"" \
    --change "LABEL org.opencontainers.image.created=$created" \
    --change "LABEL aspen.content-hash=$tag" \
    --change "LABEL aspen.python-version=$python_version" \
    --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change "ENV LANG=C.UTF-8" \
    --change 'CMD ["python3"]' \
    - "$image" >/dev/null
docker tag "$image" "$REPO:latest"
log "built $image in $((SECONDS - start)) s"
echo "$image"
