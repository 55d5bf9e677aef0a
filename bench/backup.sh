#!/usr/bin/env bash
# bench/backup.sh - what encryption costs a backup: the same backup into an
# encrypted directory and into a plain one (encryption off) of one sealfs
# mount, interleaved, in one run.
#
# Each round times, alternating which goes first,
#   1. sealfs backup --to /enc of BENCH_TREE, and --to /plain,
#   2. tar czf - BENCH_TREE > MNT/enc/x.tar.gz, and > MNT/plain/x.tar.gz,
# each followed by sync, and prints the medians and encrypted / plain.
# The mount has no remote (uploads are background work either way).
#
# Environment:
#   BENCH_TREE    the tree to back up (default $(go env GOROOT)/src)
#   BENCH_DIR     where the store lives (default /var/tmp; must be a disk)
#   BENCH_ROUNDS  rounds (default 5)
#   SEALFS_BIN    a prebuilt sealfs binary (default: go build ./cmd/sealfs)
set -euo pipefail

WORKROOT=${BENCH_DIR:-/var/tmp}
ROUNDS=${BENCH_ROUNDS:-5}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=backup-bench
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
export PATH="/usr/local/go/bin:${PATH}"
TREE=${BENCH_TREE:-$(go env GOROOT)/src}

WORK=""
PID=""
MNT=""
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -d "$TREE" ] || die "no tree at $TREE (set BENCH_TREE)"
WORK=$(mktemp -d "$WORKROOT/sealfs-backup-bench.XXXXXX")
BIN=${SEALFS_BIN:-}
if [ -z "$BIN" ]; then
	BIN="$WORK/sealfs"
	(cd "$REPO" && go build -o "$BIN" ./cmd/sealfs)
fi
S=(--store "$WORK/store" --key-file "$WORK/master.key")
MNT="$WORK/mnt"
mkdir -p "$MNT"
"$BIN" init "${S[@]}" 2>/dev/null
"$BIN" mount "${S[@]}" "$MNT" 2>"$WORK/mount.log" &
PID=$!
for ((i = 0; i < 200; i++)); do
	is_mounted "$MNT" && break
	sleep 0.1
done
is_mounted "$MNT" || die "not mounted (see $WORK/mount.log)"
mkdir "$MNT/enc" "$MNT/plain"
"$BIN" encryption "${S[@]}" off /plain >/dev/null

log "backing up $TREE ($(find "$TREE" -type f | wc -l) files, $(du -sh "$TREE" | cut -f1)), $ROUNDS rounds"
backup_enc=() backup_plain=() tar_enc=() tar_plain=()
run_backup() { # run_backup DIR -> seconds
	local t0 t1
	t0=$(now)
	"$BIN" backup "${S[@]}" --to "/$1" --name go "$TREE" >/dev/null 2>&1
	sync
	t1=$(now)
	elapsed "$t0" "$t1"
}
run_tar() { # run_tar DIR -> seconds
	local t0 t1
	t0=$(now)
	tar czf - -C "$(dirname "$TREE")" "$(basename "$TREE")" >"$MNT/$1/x.tar.gz"
	sync
	t1=$(now)
	rm -f "$MNT/$1/x.tar.gz"
	elapsed "$t0" "$t1"
}
for ((r = 1; r <= ROUNDS; r++)); do
	order=(enc plain)
	((r % 2 == 0)) && order=(plain enc)
	for d in "${order[@]}"; do
		s=$(run_backup "$d")
		if [ "$d" = enc ]; then backup_enc+=("$s"); else backup_plain+=("$s"); fi
		s=$(run_tar "$d")
		if [ "$d" = enc ]; then tar_enc+=("$s"); else tar_plain+=("$s"); fi
	done
	rm -rf "$MNT/enc/go" "$MNT/plain/go"
	log "round $r: backup enc ${backup_enc[-1]}s plain ${backup_plain[-1]}s; tar enc ${tar_enc[-1]}s plain ${tar_plain[-1]}s"
done
be=$(printf '%s\n' "${backup_enc[@]}" | median)
bp=$(printf '%s\n' "${backup_plain[@]}" | median)
te=$(printf '%s\n' "${tar_enc[@]}" | median)
tp=$(printf '%s\n' "${tar_plain[@]}" | median)
awk -v be="$be" -v bp="$bp" -v te="$te" -v tp="$tp" -v rounds="$ROUNDS" 'BEGIN {
	printf "\nbackup benchmark: median of %d interleaved rounds\n\n", rounds
	printf "%-34s %10s %10s %10s\n", "", "encrypted", "plain", "enc/plain"
	printf "%-34s %9.2fs %9.2fs %9.3fx\n", "sealfs backup", be, bp, be / bp
	printf "%-34s %9.2fs %9.2fs %9.3fx\n", "tar czf - SRC > MNT/DIR/x.tar.gz", te, tp, te / tp
}'
umount "$MNT"
wait "$PID" || die "daemon exited $?"
PID="" MNT=""
