#!/usr/bin/env bash
# The sealfs test command: installs what the integration tests need (on
# Debian, as root), checks FUSE, then runs go vet, gofmt and the whole test
# suite with the race detector. Exits non-zero on any failure.
#
# Environment:
#   SEALFS_RACE=1     also build the mounted daemon with -race (slower)
#   GO_TEST_FLAGS     extra flags for go test (e.g. "-run TestPosix -v")
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="/usr/local/go/bin:${PATH}"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'test.sh: %s\n' "$*" >&2; exit 1; }

# command -> Debian package providing it
declare -A PACKAGE_OF=(
	[fusermount3]=fuse3
	[rsync]=rsync
	[setfattr]=attr
	[getfattr]=attr
	[tar]=tar
	[gzip]=gzip
	[diff]=diffutils
	[umount]=mount
	[dd]=coreutils
	[truncate]=coreutils
	[curl]=curl
	[chromium]=chromium
	[systemd-analyze]=systemd
)

install_missing_packages() {
	local cmd missing=()
	for cmd in "${!PACKAGE_OF[@]}"; do
		command -v "$cmd" >/dev/null 2>&1 || missing+=("${PACKAGE_OF[$cmd]}")
	done
	[ "${#missing[@]}" -eq 0 ] && return 0
	# Deduplicate and sort for a stable message.
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
		die "missing packages: ${missing[*]} (install them, or run as root on Debian)"
	fi
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Azurite, the Azure Blob emulator the azblob driver tests start; pinned to
# 3.35.0, a release that runs on Node 20.
AZURITE_VERSION=3.35.0

install_azurite() {
	command -v azurite-blob >/dev/null 2>&1 && return 0
	if ! command -v npm >/dev/null 2>&1; then
		if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
			die "azurite-blob is missing and so is npm (install Node.js and npm, then: npm install -g azurite@${AZURITE_VERSION})"
		fi
		log "installing nodejs npm"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
	fi
	log "npm install -g azurite@${AZURITE_VERSION}"
	npm install -g --no-fund --no-audit "azurite@${AZURITE_VERSION}" >/dev/null
	command -v azurite-blob >/dev/null 2>&1 || die "azurite-blob not in PATH after npm install -g (is npm's global bin, $(npm prefix -g)/bin, in PATH?)"
}

check_fuse() {
	if [ ! -c /dev/fuse ] && [ "$(id -u)" -eq 0 ] && command -v modprobe >/dev/null 2>&1; then
		modprobe fuse 2>/dev/null || true
	fi
	[ -c /dev/fuse ] || die "/dev/fuse is missing: load the fuse module, or give the container --device /dev/fuse --cap-add SYS_ADMIN"
	# Debian's udev rules make /dev/fuse 0666 so that normal users can mount
	# through fusermount3; machines without udev leave it 0600, and the
	# unprivileged-mount test needs the usual mode.
	if [ "$(id -u)" -eq 0 ] && [ "$(stat -c %a /dev/fuse)" != 666 ]; then
		log "chmod 666 /dev/fuse (the mode Debian's udev rules give it)"
		chmod 666 /dev/fuse
	fi
}

command -v go >/dev/null 2>&1 || die "go not found (expected in /usr/local/go/bin)"
install_missing_packages
install_azurite
check_fuse

# Without git, VCS stamping of the sealfs binary fails the build.
if ! command -v git >/dev/null 2>&1; then
	export GOFLAGS="${GOFLAGS:+$GOFLAGS }-buildvcs=false"
fi

log "go vet ./..."
go vet ./...

log "gofmt -l ."
unformatted="$(gofmt -l .)"
if [ -n "$unformatted" ]; then
	printf 'gofmt needed on:\n%s\n' "$unformatted" >&2
	exit 1
fi

log "go test -race -count=1 -timeout 60m ./..."
# shellcheck disable=SC2086 # GO_TEST_FLAGS is a list of flags.
go test -race -count=1 -timeout 60m ${GO_TEST_FLAGS:-} ./...
