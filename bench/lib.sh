# bench/lib.sh - helpers the benchmark scripts share; source it.

# is_mounted DIR: whether DIR is a mountpoint in this namespace.
is_mounted() { awk -v m="$1" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo; }

# now: the time in seconds, with microseconds.
now() { printf '%s' "$EPOCHREALTIME"; }

# median: the median of the numbers on stdin, one per line.
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# elapsed T0 T1: T1 - T0 in seconds.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { print b - a }'; }

# The scripts set BENCH_NAME before sourcing this, and WORK (their
# directory), PID (the daemon they started) and MNT (its mountpoint) as
# they go; cleanup undoes exactly those.
log() { printf '[%s] %s\n' "${BENCH_NAME:-bench}" "$*" >&2; }
die() {
	printf '[%s] error: %s\n' "${BENCH_NAME:-bench}" "$*" >&2
	exit 1
}
cleanup() {
	set +e
	[ -n "${MNT:-}" ] && is_mounted "$MNT" && { umount "$MNT" 2>/dev/null || umount -l "$MNT"; }
	[ -n "${PID:-}" ] && kill -0 "$PID" 2>/dev/null && wait "$PID"
	[ -n "${WORK:-}" ] && rm -rf "$WORK"
}

# drop_caches empties the page cache, so that reads come from the disk.
drop_caches() {
	sync
	echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || log "page cache NOT dropped (needs root)"
}
