#!/usr/bin/env bash
# bench/recover.sh - how fast `sealfs recover --download` restores a backup
# from a file:// bucket, against `cp -r` of the same bucket folder, in one
# run, and the peak RSS of recover.
#
# It backs up a large random file (BENCH_SIZE_MB) and a source tree
# (BENCH_TREE, default the Go source tree: ~11,000 files) into a sealfs
# mount with a file:// remote, runs `sync --wait` and unmounts. Then, page
# cache dropped before each, it times
#   1. cp -r of the bucket folder (the floor: the same bytes, no work), and
#   2. sealfs recover --download into a new store (download, write, and
#      authenticate every block),
# alternating BENCH_ROUNDS times, and prints the medians, their ratio and
# recover's peak RSS (max over rounds, from getrusage). The restored tree is
# checked against the source once (sha256 of every file through a mount).
#
# Run it as root (dropping caches needs root). Environment:
#   BENCH_SIZE_MB  size of the large file in MiB (default 1024)
#   BENCH_TREE     the tree to back up (default $(go env GOROOT)/src)
#   BENCH_DIR      where everything lives (default /var/tmp; must be a disk)
#   BENCH_ROUNDS   rounds (default 3)
#   SEALFS_BIN     a prebuilt sealfs binary (default: go build ./cmd/sealfs)
set -euo pipefail

SIZE_MB=${BENCH_SIZE_MB:-1024}
WORKROOT=${BENCH_DIR:-/var/tmp}
ROUNDS=${BENCH_ROUNDS:-3}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=recover-bench
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
export PATH="/usr/local/go/bin:${PATH}"
TREE=${BENCH_TREE:-$(go env GOROOT)/src}

WORK=""
PID=""
MNT=""
trap cleanup EXIT
trap 'exit 130' INT TERM


mount_store() { # mount_store STORE MNT
	MNT=$2
	"$BIN" mount --store "$1" --key-file "$WORK/master.key" "$MNT" >>"$WORK/mount.log" 2>&1 &
	PID=$!
	for ((i = 0; i < 200; i++)); do
		is_mounted "$MNT" && return 0
		kill -0 "$PID" 2>/dev/null || die "mount exited (see $WORK/mount.log)"
		sleep 0.1
	done
	die "$MNT not mounted after 20 s"
}
unmount_store() {
	umount "$MNT"
	wait "$PID" || die "daemon exited $? (see $WORK/mount.log)"
	PID="" MNT=""
}

[ -d "$TREE" ] || die "no tree at $TREE (set BENCH_TREE)"
WORK=$(mktemp -d "$WORKROOT/sealfs-recover-bench.XXXXXX")
BIN=${SEALFS_BIN:-}
if [ -z "$BIN" ]; then
	BIN="$WORK/sealfs"
	(cd "$REPO" && go build -o "$BIN" ./cmd/sealfs)
fi
mkdir -p "$WORK/bucket" "$WORK/mnt"

log "backing up a ${SIZE_MB} MiB file and $TREE ($(find "$TREE" -type f | wc -l) files)"
"$BIN" init --store "$WORK/store" --key-file "$WORK/master.key" --remote "file://$WORK/bucket" 2>/dev/null
mount_store "$WORK/store" "$WORK/mnt"
head -c "$((SIZE_MB << 20))" /dev/urandom >"$WORK/mnt/big.bin"
rsync -a "$TREE/" "$WORK/mnt/tree/"
"$BIN" sync --wait --store "$WORK/store" --key-file "$WORK/master.key"
unmount_store
bucket_bytes=$(du -sb "$WORK/bucket" | cut -f1)
log "bucket: $bucket_bytes bytes in $(find "$WORK/bucket" -type f | wc -l) objects"

cp_s=() rec_s=() rss_kb=0
for ((r = 1; r <= ROUNDS; r++)); do
	log "round $r of $ROUNDS: cp -r"
	rm -rf "$WORK/bucket-copy"
	drop_caches
	t0=$(now)
	cp -r "$WORK/bucket" "$WORK/bucket-copy"
	sync
	t1=$(now)
	cp_s+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
	rm -rf "$WORK/bucket-copy"

	log "round $r of $ROUNDS: sealfs recover --download"
	rm -rf "$WORK/restored"
	drop_caches
	t0=$(now)
	rss=$(python3 - "$BIN" "$WORK" <<'EOF'
import resource, subprocess, sys
bin, work = sys.argv[1], sys.argv[2]
out = open(work + "/recover.log", "a")
subprocess.run([bin, "recover", "--remote", "file://" + work + "/bucket", "--store", work + "/restored",
                "--key-file", work + "/master.key", "--download"], stdout=out, stderr=out, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
EOF
)
	sync
	t1=$(now)
	rec_s+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
	((rss > rss_kb)) && rss_kb=$rss
done

log "checking the restored tree"
mount_store "$WORK/restored" "$WORK/mnt"
want=$( (cd "$TREE" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum)
got=$( (cd "$WORK/mnt/tree" && find . -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum)
[ "$want" = "$got" ] || die "the restored tree differs from $TREE"
unmount_store

cp_med=$(printf '%s\n' "${cp_s[@]}" | median)
rec_med=$(printf '%s\n' "${rec_s[@]}" | median)
awk -v c="$cp_med" -v r="$rec_med" -v n="$bucket_bytes" -v rss="$rss_kb" -v rounds="$ROUNDS" -v cs="${cp_s[*]}" -v rs="${rec_s[*]}" 'BEGIN {
	printf "\nrecover benchmark: %d bytes in the bucket; page cache dropped; median of %d\n\n", n, rounds
	printf "%-28s %10s %10s   rounds (s)\n", "", "seconds", "MB/s"
	printf "%-28s %10.1f %10.1f   %s\n", "cp -r bucket", c, n / c / 1e6, cs
	printf "%-28s %10.1f %10.1f   %s\n", "sealfs recover --download", r, n / r / 1e6, rs
	printf "\nrecover / cp -r throughput: %.2fx\n", c / r
	printf "recover peak RSS: %.1f MiB\n", rss / 1024
}'
