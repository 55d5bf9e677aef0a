#!/usr/bin/env bash
# bench/download.sh - a download from the web listener against reading the
# same file through the mount, in one run: a BENCH_SIZE_MB random file,
# page cache dropped before each read, BENCH_ROUNDS interleaved rounds,
# medians and download / mount throughput.
#
# Run it as root (dropping caches needs root). Environment:
#   BENCH_SIZE_MB  size of the file in MiB (default 1024)
#   BENCH_DIR      where the store lives (default /var/tmp; must be a disk)
#   BENCH_ROUNDS   rounds (default 3)
#   SEALFS_BIN     a prebuilt sealfs binary (default: go build ./cmd/sealfs)
set -euo pipefail

SIZE_MB=${BENCH_SIZE_MB:-1024}
WORKROOT=${BENCH_DIR:-/var/tmp}
ROUNDS=${BENCH_ROUNDS:-3}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=download-bench
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
export PATH="/usr/local/go/bin:${PATH}"

WORK=""
PID=""
MNT=""
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v curl >/dev/null || die "curl is needed"
WORK=$(mktemp -d "$WORKROOT/sealfs-download-bench.XXXXXX")
BIN=${SEALFS_BIN:-}
if [ -z "$BIN" ]; then
	BIN="$WORK/sealfs"
	(cd "$REPO" && go build -o "$BIN" ./cmd/sealfs)
fi
S=(--store "$WORK/store" --key-file "$WORK/master.key")
MNT="$WORK/mnt"
mkdir -p "$MNT"
"$BIN" init "${S[@]}" 2>/dev/null
"$BIN" mount "${S[@]}" --web 127.0.0.1:0 "$MNT" 2>"$WORK/mount.log" &
PID=$!
for ((i = 0; i < 200; i++)); do
	is_mounted "$MNT" && grep -q "web page and metrics at" "$WORK/mount.log" && break
	sleep 0.1
done
is_mounted "$MNT" || die "not mounted (see $WORK/mount.log)"
URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/mount.log" | head -1)
TOKEN=$(cat "$WORK/store/web.token")
log "writing a ${SIZE_MB} MiB random file"
head -c "$((SIZE_MB << 20))" /dev/urandom >"$MNT/big.bin"
sync
bytes=$((SIZE_MB << 20))
mount_s=() dl_s=()
for ((r = 1; r <= ROUNDS; r++)); do
	drop_caches
	t0=$(now)
	cat "$MNT/big.bin" >/dev/null
	t1=$(now)
	mount_s+=("$(elapsed "$t0" "$t1")")
	drop_caches
	t0=$(now)
	curl -sSf -H "Authorization: Bearer $TOKEN" -o /dev/null "$URL/download?path=/big.bin"
	t1=$(now)
	dl_s+=("$(elapsed "$t0" "$t1")")
	log "round $r: mount ${mount_s[-1]}s download ${dl_s[-1]}s"
done
m=$(printf '%s\n' "${mount_s[@]}" | median)
d=$(printf '%s\n' "${dl_s[@]}" | median)
awk -v m="$m" -v d="$d" -v n="$bytes" -v rounds="$ROUNDS" 'BEGIN {
	printf "\ndownload benchmark: %d bytes, page cache dropped, median of %d\n\n", n, rounds
	printf "%-36s %9.2fs %9.1f MB/s\n", "cat MNT/big.bin > /dev/null", m, n / m / 1e6
	printf "%-36s %9.2fs %9.1f MB/s\n", "curl /download?path=/big.bin", d, n / d / 1e6
	printf "\ndownload / mount throughput: %.2fx\n", m / d
}'
umount "$MNT"
wait "$PID" || die "daemon exited $?"
PID="" MNT=""
