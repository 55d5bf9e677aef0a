#!/usr/bin/env bash
# bench/rotate.sh - what `sealfs key rotate` costs, and that it does not
# depend on the size of the files (issue 10).
#
# It makes two stores, each with a file:// remote of its own:
#   A ("small"): ROTATE_FILES small files (a few hundred bytes to a few KiB,
#      100 to a directory),
#   B ("big"):   the same small files plus one ROTATE_BIG_MB MiB random file,
# copies the files in through a mount (--seal-after 0s), waits with
# `sealfs sync --wait` until all of it is in the bucket and unmounts. Then it
# times `sealfs key rotate` of the unmounted stores, A and B taking turns
# (A, B, A, B, ...), ROTATE_ROUNDS times each; every run replaces the key
# file in place, so the next run rotates again. For each run it counts the
# bytes uploaded (the sizes of the files under the bucket folder whose mtime
# is newer than a marker touched just before the run), and it fails if any
# file under BUCKET/data changed (sha256 of every one, before the first
# rotation and after the last) or was written during a run.
#
# It prints the median seconds for A and B and B/A (issue 10's bar: at most
# 1.2x), the bytes uploaded per rotation of B and their share of B's content
# (the bar: under 1%), and the records `key rotate` reports having looked at.
#
# Run it as root (dropping the page cache before each rotation needs root).
#
# Environment:
#   ROTATE_FILES        number of small files (default 10000)
#   ROTATE_BIG_MB       size of B's big file in MiB (default 4096)
#   ROTATE_ROUNDS       rotations per store; medians are reported (default 3)
#   ROTATE_DROP_CACHES  1 (default) to drop the page cache before each
#                       rotation, so that both start cold; 0 to skip
#   BENCH_DIR           where the stores and buckets live (default /var/tmp;
#                       must be a disk, with room for about 3x ROTATE_BIG_MB)
#   SEALFS_BIN          a prebuilt sealfs binary (default: go build ./cmd/sealfs)
set -euo pipefail

NFILES=${ROTATE_FILES:-10000}
BIG_MB=${ROTATE_BIG_MB:-4096}
ROUNDS=${ROTATE_ROUNDS:-3}
DROP=${ROTATE_DROP_CACHES:-1}
WORKROOT=${BENCH_DIR:-/var/tmp}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=rotate-bench
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"
export PATH="/usr/local/go/bin:${PATH}"

MOUNTS=() # mountpoints this script mounted
PIDS=()   # daemons this script started
WORK=""

# wait_exit PID: waits up to 5 min for a daemon we started (unmount drains
# its uploads first); kills it by PID if it hangs. Returns its exit status.
wait_exit() {
	local pid=$1 i rc=0
	for ((i = 0; i < 3000; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "daemon $pid did not exit after unmount; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || rc=$?
	return "$rc"
}

cleanup() {
	local rc=$? m pid f
	set +e
	exec >&2 # in case set -e exited with stdout redirected into a mount
	if [ "$rc" -ne 0 ] && [ -n "$WORK" ]; then
		for f in "$WORK"/*.log; do
			[ -e "$f" ] && { log "last lines of $f:"; tail -n 20 "$f" >&2; }
		done
	fi
	for m in "${MOUNTS[@]}"; do
		is_mounted "$m" && { fusermount3 -u "$m" 2>/dev/null || fusermount3 -uz "$m"; }
	done
	for pid in "${PIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null && wait_exit "$pid"
	done
	[ -n "$WORK" ] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# make_tree DIR: NFILES files of 200 to 4,295 bytes, 100 to a directory.
make_tree() {
	local tree=$1 ndirs=$(((NFILES + 99) / 100)) pool
	mkdir -p "$tree"
	seq -f "$tree/d%03g" 0 "$((ndirs - 1))" | xargs mkdir -p
	pool=$(head -c 12288 /dev/urandom | base64 -w0)
	awk -v root="$tree" -v n="$NFILES" -v pool="$pool" 'BEGIN {
		srand(42)
		for (i = 0; i < n; i++) {
			f = sprintf("%s/d%03d/f%05d.txt", root, int(i / 100), i)
			size = 200 + int(rand() * 4096)
			printf "%s", substr(pool, 1 + int(rand() * (length(pool) - size)), size) > f
			close(f)
		}
	}'
}

# random_file N FILE: writes N pseudo-random bytes to FILE (AES-CTR keystream
# when openssl is there: faster than /dev/urandom, and incompressible all the
# same). FILE is opened inside, not by a redirection of the call: if the call
# fails, set -e exits with such a redirection still open, the file on the
# mount stays open and the unmount in cleanup finds the mount busy.
random_file() {
	if command -v openssl >/dev/null; then
		# head closes the pipe after N bytes: openssl's SIGPIPE is expected
		{ openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass "pass:sealfs-rotate-$RANDOM" </dev/zero 2>/dev/null || :; } |
			head -c "$1" >"$2"
	else
		head -c "$1" /dev/urandom >"$2"
	fi
}

# store_args X: the --store and --key-file flags of store X, in S.
store_args() { S=(--store "$WORK/store$1" --key-file "$WORK/key$1"); }

# fill X [BIG]: creates store X with its bucket, copies the tree in (and a
# BIG_MB MiB file when BIG is given), syncs and unmounts.
fill() {
	local x=$1 big=${2:-} mnt="$WORK/mnt$1" pid i rc=0 t0 t1
	local S
	store_args "$x"
	mkdir -p "$mnt" "$WORK/bucket$x"
	"$BIN" init "${S[@]}" --remote "file://$WORK/bucket$x" 2>>"$WORK/$x.log"
	"$BIN" mount "${S[@]}" --seal-after 0s "$mnt" 2>>"$WORK/$x.log" &
	pid=$!
	PIDS+=("$pid")
	MOUNTS+=("$mnt")
	for ((i = 0; i < 200; i++)); do
		mountpoint -q "$mnt" && break
		kill -0 "$pid" 2>/dev/null || die "store $x: the daemon exited before mounting (see $WORK/$x.log)"
		sleep 0.1
	done
	mountpoint -q "$mnt" || die "store $x: $mnt not mounted after 20 s"
	t0=$(now)
	cp -a "$TREE/." "$mnt/"
	if [ -n "$big" ]; then
		random_file "$((BIG_MB * 1048576))" "$mnt/big.bin"
		[ "$(stat -c %s "$mnt/big.bin")" -eq "$((BIG_MB * 1048576))" ] || die "store $x: big.bin is short"
	fi
	"$BIN" sync --wait "${S[@]}" 2>>"$WORK/$x.log" || die "store $x: sync --wait failed (see $WORK/$x.log)"
	t1=$(now)
	log "store $x: filled and synced in $(elapsed "$t0" "$t1") s"
	fusermount3 -u "$mnt"
	wait_exit "$pid" || die "store $x: the daemon exited with status $? (see $WORK/$x.log)"
	[ -n "$(find "$WORK/bucket$x/data" -type f -print -quit)" ] || die "store $x: nothing under bucket$x/data"
	log "store $x: bucket data/ $(du -sb "$WORK/bucket$x/data" | cut -f1) bytes, meta/ $(du -sb "$WORK/bucket$x/meta" | cut -f1) bytes"
}

# data_sums X: sha256 of every file under bucket X's data/, sorted by name.
data_sums() { (cd "$WORK/bucket$1/data" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum); }

declare -A SECS UPLOADED RECORDS
# rotate X: times one key rotate of store X; appends to SECS[X], UPLOADED[X]
# and RECORDS[X].
rotate() {
	local x=$1 bucket="$WORK/bucket$1" marker="$WORK/marker$1" t0 t1 out n bytes changed
	local S
	store_args "$x"
	[ "$DROP" = 1 ] && drop_caches
	touch "$marker"
	sleep 0.05 # past the file system's timestamp granularity
	t0=$(now)
	out=$("$BIN" key rotate "${S[@]}" 2>>"$WORK/$x.log") || die "store $x: key rotate failed (see $WORK/$x.log)"
	t1=$(now)
	printf '%s\n' "$out" >>"$WORK/$x.log"
	n=$(printf '%s\n' "$out" | sed -n 's/.* \([0-9][0-9]*\) records looked at.*/\1/p' | head -n 1)
	[ -n "$n" ] || die "store $x: no \"N records looked at\" in key rotate's output: $out"
	bytes=$(find "$bucket" -type f -newer "$marker" -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f\n", s }')
	changed=$(find "$bucket/data" -type f -newer "$marker" | head -n 5)
	[ -z "$changed" ] || die "store $x: key rotate wrote under data/: $changed"
	SECS[$x]+="$(elapsed "$t0" "$t1") "
	UPLOADED[$x]+="$bytes "
	RECORDS[$x]=$n
	log "store $x: key rotate $(elapsed "$t0" "$t1") s, $n records, $bytes bytes uploaded:" \
		"$(find "$bucket" -type f -newer "$marker" -printf '%s %P\n' |
			awk '{ sub(/-[0-9]+$/, "-N", $2); s[$2] += $1; c[$2]++ } END { for (k in s) printf "%s %.0f (%d); ", k, s[k], c[k] }')"
}

main() {
	local tool
	for tool in awk find sha256sum fusermount3 mountpoint cp; do
		command -v "$tool" >/dev/null || die "$tool is required"
	done
	[ -c /dev/fuse ] || die "/dev/fuse is missing"
	WORK=$(mktemp -d "$WORKROOT/sealfs-rotate-bench.XXXXXX")
	TREE="$WORK/tree-src"
	if [ -n "${SEALFS_BIN:-}" ]; then
		BIN=$SEALFS_BIN
	else
		log "building sealfs"
		BIN="$WORK/sealfs"
		(cd "$REPO" && go build -o "$BIN" ./cmd/sealfs)
	fi

	log "generating $NFILES small files"
	make_tree "$TREE"
	local tree_bytes content_bytes
	tree_bytes=$(find "$TREE" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%.0f\n", s }')
	content_bytes=$((tree_bytes + BIG_MB * 1048576))

	log "store A: $NFILES files, $tree_bytes bytes"
	fill A
	log "store B: the same plus a $BIG_MB MiB file ($content_bytes bytes)"
	fill B big
	sync

	log "checksumming bucket A and B data/"
	data_sums A >"$WORK/sumsA.before"
	data_sums B >"$WORK/sumsB.before"

	local r x
	for ((r = 1; r <= ROUNDS; r++)); do
		for x in A B; do
			log "round $r of $ROUNDS"
			rotate "$x"
		done
	done

	log "checksumming bucket A and B data/ again"
	for x in A B; do
		data_sums "$x" >"$WORK/sums$x.after"
		if ! cmp -s "$WORK/sums$x.before" "$WORK/sums$x.after"; then
			diff "$WORK/sums$x.before" "$WORK/sums$x.after" | head -n 20 >&2
			die "store $x: files under bucket$x/data changed during key rotate"
		fi
	done

	local secs_a secs_b up_a up_b
	secs_a=$(xargs -n 1 <<<"${SECS[A]}" | median)
	secs_b=$(xargs -n 1 <<<"${SECS[B]}" | median)
	up_a=$(xargs -n 1 <<<"${UPLOADED[A]}" | median)
	up_b=$(xargs -n 1 <<<"${UPLOADED[B]}" | median)
	log "A: ${SECS[A]}s; uploaded ${UPLOADED[A]}bytes"
	log "B: ${SECS[B]}s; uploaded ${UPLOADED[B]}bytes"
	awk -v n="$NFILES" -v mb="$BIG_MB" -v rounds="$ROUNDS" -v drop="$DROP" \
		-v sa="$secs_a" -v sb="$secs_b" -v ua="$up_a" -v ub="$up_b" \
		-v ca="$tree_bytes" -v cb="$content_bytes" -v ra="${RECORDS[A]}" -v rb="${RECORDS[B]}" \
		-v da="$(wc -l <"$WORK/sumsA.after")" -v db="$(wc -l <"$WORK/sumsB.after")" \
		-v per="$(paste -d ' ' <(xargs -n 1 <<<"${SECS[A]}") <(xargs -n 1 <<<"${SECS[B]}") |
			awk '{ printf "%s%.3fx", (NR > 1 ? " " : ""), $2 / $1 }')" 'BEGIN {
		printf "\nkey rotate benchmark: %d small files; B adds a %d MiB file; median of %d interleaved rounds; page cache %s\n\n",
			n, mb, rounds, (drop == 1 ? "dropped before each rotation" : "not dropped")
		printf "%-6s %14s %14s %16s %10s %9s %11s\n", "store", "content bytes", "rotate s", "uploaded bytes", "% content", "records", "data objs"
		printf "%-6s %14.0f %14.3f %16.0f %9.4f%% %9d %11d\n", "A", ca, sa, ua, 100 * ua / ca, ra, da
		printf "%-6s %14.0f %14.3f %16.0f %9.4f%% %9d %11d\n", "B", cb, sb, ub, 100 * ub / cb, rb, db
		printf "\nB/A rotate time: %.3fx (bar: <= 1.2x) %s; round by round: %s\n", sb / sa, (sb / sa <= 1.2 ? "ok" : "OVER"), per
		printf "B uploaded per rotation: %.4f%% of its content bytes (bar: < 1%%) %s\n", 100 * ub / cb, (ub / cb < 0.01 ? "ok" : "OVER")
		printf "bucket data/ unchanged by %d rotations of each store (sha256 of every object)\n", rounds
	}'
}

main "$@"
