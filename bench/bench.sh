#!/usr/bin/env bash
# bench/bench.sh - throughput of sealfs against a plain directory and gocryptfs.
#
# For each target (plain directory, sealfs, gocryptfs if installed) it
#   1. writes a 1 GiB random file with dd (conv=fsync, so the time includes
#      getting the data to disk),
#   2. drops the page cache (and remounts the FUSE targets),
#   3. reads the file back with dd,
#   4. rsyncs a tree of ~10,000 small files in (followed by sync), rsyncs it
#      again (nothing changed: every file is stat-ed, none copied), lists it
#      with ls -lR after dropping caches and remounting, and extracts it with
#      tar xzf into an empty directory (followed by sync),
# then prints MB/s, files/s, the small-file times in seconds, each ratio to
# the plain directory and to gocryptfs, and the peak
# RSS (VmHWM) of the sealfs daemon while it wrote the large file. With
# BENCH_BASE_BIN it also measures that sealfs binary (target "base", e.g. the
# commit before a change) in the same run, so the two can be compared; with
# BENCH_ROUNDS > 1 every target is measured that many times, the targets
# taking turns, and the medians are printed.
#
# Run it as root for meaningful read numbers (dropping caches needs root).
#
# Environment:
#   BENCH_SIZE_MB  size of the large file in MiB (default 1024)
#   BENCH_FILES    number of small files (default 10000)
#   BENCH_TREE     use this tree for the small files instead of generating one
#                  (issue 9 measures $(go env GOROOT)/src: 11,478 files)
#   BENCH_DIR      where the targets live (default /var/tmp; must be a disk)
#   BENCH_VERIFY   1 (default) to check the data read back, 0 to skip
#   SEALFS_BIN     a prebuilt sealfs binary (default: go build ./cmd/sealfs)
#   BENCH_BASE_BIN another sealfs binary to measure beside it (target "base")
#   BENCH_ROUNDS   measurements per target; medians are reported (default 1)
set -euo pipefail

SIZE_MB=${BENCH_SIZE_MB:-1024}
NFILES=${BENCH_FILES:-10000}
WORKROOT=${BENCH_DIR:-/var/tmp}
VERIFY=${BENCH_VERIFY:-1}
BASE_BIN=${BENCH_BASE_BIN:-}
ROUNDS=${BENCH_ROUNDS:-1}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="/usr/local/go/bin:${PATH}"

MOUNTS=() # mountpoints this script mounted
PIDS=()   # daemons this script started
WORK=""
RNDDIR=""

log() { printf '[bench] %s\n' "$*" >&2; }
die() {
	printf '[bench] error: %s\n' "$*" >&2
	exit 1
}

is_mounted() {
	awk -v m="$1" '$5 == m { found = 1 } END { exit !found }' /proc/self/mountinfo
}

unmount() {
	umount "$1" 2>/dev/null || fusermount3 -u "$1" 2>/dev/null || umount -l "$1" 2>/dev/null || fusermount3 -uz "$1"
}

# wait_exit PID: waits up to 60 s for a daemon we started; kills it by PID if
# it hangs. Returns its exit status.
wait_exit() {
	local pid=$1 i
	for ((i = 0; i < 600; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		log "daemon $pid did not exit after unmount; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	local rc=0
	wait "$pid" 2>/dev/null || rc=$?
	return "$rc"
}

# wait_mounted MNT PID: polls mountinfo for up to 20 s.
wait_mounted() {
	local mnt=$1 pid=$2 i
	for ((i = 0; i < 200; i++)); do
		is_mounted "$mnt" && return 0
		kill -0 "$pid" 2>/dev/null || die "daemon for $mnt exited before mounting (see $WORK/*.log)"
		sleep 0.1
	done
	die "$mnt not mounted after 20 s"
}

cleanup() {
	set +e
	local m pid
	for m in "${MOUNTS[@]}"; do
		is_mounted "$m" && unmount "$m"
	done
	for pid in "${PIDS[@]}"; do
		kill -0 "$pid" 2>/dev/null && wait_exit "$pid"
	done
	[ -n "$WORK" ] && rm -rf "$WORK"
	[ -n "$RNDDIR" ] && rm -rf "$RNDDIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CACHE_NOTE="dropped"
drop_caches() {
	sync
	if ! { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null; then
		CACHE_NOTE="NOT dropped (needs root): plain-directory reads come from the page cache"
	fi
}

now() { printf '%s' "$EPOCHREALTIME"; }
# rate AMOUNT START END [DIVISOR]: AMOUNT/DIVISOR per second.
rate() { awk -v n="$1" -v a="$2" -v b="$3" -v d="${4:-1}" 'BEGIN { printf "%.1f", n / d / (b - a) }'; }
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
ratio() { awk -v x="$1" -v p="$2" 'BEGIN { if (p > 0) printf "%.2fx", x / p; else print "-" }'; }

# ---- targets: <name>_mount sets TARGET_DIR (and DAEMON_PID for FUSE) ----

plain_mount() {
	TARGET_DIR="$WORK/plain"
	mkdir -p "$TARGET_DIR"
	DAEMON_PID=""
}
plain_unmount() { :; }

# binary_mount BIN NAME mounts a store of its own for each sealfs binary.
binary_mount() {
	local bin=$1 name=$2
	TARGET_DIR="$WORK/$name-mnt"
	mkdir -p "$TARGET_DIR"
	if [ ! -e "$WORK/$name-store" ]; then
		"$bin" init --store "$WORK/$name-store" --key-file "$WORK/$name.key" 2>>"$WORK/$name.log"
	fi
	"$bin" mount --store "$WORK/$name-store" --key-file "$WORK/$name.key" "$TARGET_DIR" 2>>"$WORK/$name.log" &
	DAEMON_PID=$!
	PIDS+=("$DAEMON_PID")
	MOUNTS+=("$TARGET_DIR")
	wait_mounted "$TARGET_DIR" "$DAEMON_PID"
}
binary_unmount() {
	unmount "$TARGET_DIR"
	wait_exit "$DAEMON_PID" || log "$1 exited with status $? (log: $WORK/$1.log)"
}
sealfs_mount() { binary_mount "$SEALFS" sealfs; }
sealfs_unmount() { binary_unmount sealfs; }
base_mount() { binary_mount "$BASE_BIN" base; }
base_unmount() { binary_unmount base; }

gocryptfs_mount() {
	TARGET_DIR="$WORK/gocryptfs-mnt"
	mkdir -p "$TARGET_DIR" "$WORK/gocryptfs-cipher"
	if [ ! -e "$WORK/gocryptfs-cipher/gocryptfs.conf" ]; then
		gocryptfs -q -init -extpass 'echo bench' "$WORK/gocryptfs-cipher" >>"$WORK/gocryptfs.log" 2>&1
	fi
	gocryptfs -q -fg -extpass 'echo bench' "$WORK/gocryptfs-cipher" "$TARGET_DIR" >>"$WORK/gocryptfs.log" 2>&1 &
	DAEMON_PID=$!
	PIDS+=("$DAEMON_PID")
	MOUNTS+=("$TARGET_DIR")
	wait_mounted "$TARGET_DIR" "$DAEMON_PID"
}
gocryptfs_unmount() {
	unmount "$TARGET_DIR"
	wait_exit "$DAEMON_PID" || log "gocryptfs exited with status $?"
}

vm_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

# Each holds a target's measurements, one per round, separated by spaces.
declare -A WRITE READ FILES RSYNC RSYNC2 LSLR TARX
SEALFS_HWM_WRITE=0

# median "V1 V2 ...": the median of the values.
median() {
	printf '%s\n' $1 | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

bench_target() {
	local t=$1 start end
	log "$t: mounting"
	"${t}_mount"

	log "$t: writing ${SIZE_MB} MiB"
	start=$(now)
	dd if="$RND" of="$TARGET_DIR/big.bin" bs=1M conv=fsync status=none
	end=$(now)
	WRITE[$t]+="$(rate "$((SIZE_MB * 1048576))" "$start" "$end" 1000000) "
	if [ "$t" = sealfs ]; then
		SEALFS_HWM_WRITE=$(vm_kib "$DAEMON_PID" VmHWM)
	fi

	"${t}_unmount"
	drop_caches
	"${t}_mount"

	log "$t: reading ${SIZE_MB} MiB back"
	start=$(now)
	dd if="$TARGET_DIR/big.bin" of=/dev/null bs=1M status=none
	end=$(now)
	READ[$t]+="$(rate "$((SIZE_MB * 1048576))" "$start" "$end" 1000000) "
	if [ "$VERIFY" = 1 ]; then
		cmp "$RND" "$TARGET_DIR/big.bin" || die "$t: the file read back differs from what was written"
	fi
	rm -f "$TARGET_DIR/big.bin"
	sync

	log "$t: rsync of $NFILES files"
	tar cf - -C "$TREE" . >/dev/null # same warm source cache for every target
	start=$(now)
	rsync -a "$TREE/" "$TARGET_DIR/tree/"
	sync
	end=$(now)
	FILES[$t]+="$(rate "$NFILES" "$start" "$end") "
	RSYNC[$t]+="$(seconds "$start" "$end") "
	if [ "$VERIFY" = 1 ]; then
		local changes
		changes=$(rsync -a --checksum --dry-run --itemize-changes "$TREE/" "$TARGET_DIR/tree/" | wc -l)
		[ "$changes" -eq 0 ] || die "$t: rsync --checksum finds $changes differences after the copy"
	fi

	log "$t: rsync again, nothing changed"
	start=$(now)
	rsync -a "$TREE/" "$TARGET_DIR/tree/"
	end=$(now)
	RSYNC2[$t]+="$(seconds "$start" "$end") "

	"${t}_unmount"
	drop_caches
	"${t}_mount"
	log "$t: ls -lR, caches dropped"
	start=$(now)
	ls -lR "$TARGET_DIR/tree" >/dev/null
	end=$(now)
	LSLR[$t]+="$(seconds "$start" "$end") "
	rm -rf "$TARGET_DIR/tree" # the next round copies into an empty target again
	sync

	log "$t: tar xzf of the tree"
	mkdir "$TARGET_DIR/x"
	start=$(now)
	tar xzf "$TGZ" -C "$TARGET_DIR/x"
	sync
	end=$(now)
	TARX[$t]+="$(seconds "$start" "$end") "
	rm -rf "$TARGET_DIR/x"
	"${t}_unmount"
}

make_tree() {
	local ndirs=$(((NFILES + 99) / 100)) pool
	mkdir -p "$TREE"
	seq -f "$TREE/d%03g" 0 "$((ndirs - 1))" | xargs mkdir -p
	pool=$(head -c 12288 /dev/urandom | base64 -w0)
	awk -v root="$TREE" -v n="$NFILES" -v pool="$pool" 'BEGIN {
		srand(42)
		for (i = 0; i < n; i++) {
			f = sprintf("%s/d%03d/f%05d.txt", root, int(i / 100), i)
			size = 100 + int(rand() * 8000)
			printf "%s", substr(pool, 1 + int(rand() * (length(pool) - size)), size) > f
			close(f)
		}
	}'
}

main() {
	for tool in dd rsync cmp awk; do
		command -v "$tool" >/dev/null || die "$tool is required"
	done
	[ -c /dev/fuse ] || die "/dev/fuse is missing"
	WORK=$(mktemp -d "$WORKROOT/sealfs-bench.XXXXXX")
	local shm_free_mb
	shm_free_mb=$(df -Pm /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')
	if [ -n "$shm_free_mb" ] && [ "$shm_free_mb" -gt $((SIZE_MB + 256)) ]; then
		RNDDIR=$(mktemp -d /dev/shm/sealfs-bench-rnd.XXXXXX)
	else
		RNDDIR="$WORK/rnd"
		mkdir -p "$RNDDIR"
	fi
	RND="$RNDDIR/random.bin"
	TREE=${BENCH_TREE:-$WORK/tree-src}
	TGZ="$WORK/tree.tar.gz"

	if [ -n "${SEALFS_BIN:-}" ]; then
		SEALFS=$SEALFS_BIN
	else
		log "building sealfs"
		(cd "$REPO" && go build -o "$WORK/sealfs" ./cmd/sealfs)
		SEALFS="$WORK/sealfs"
	fi

	log "generating ${SIZE_MB} MiB of random data in $RNDDIR and $NFILES files"
	head -c "$((SIZE_MB * 1048576))" /dev/urandom >"$RND"
	if [ -n "${BENCH_TREE:-}" ]; then
		[ -d "$TREE" ] || die "BENCH_TREE $TREE is not a directory"
		NFILES=$(find "$TREE" -type f | wc -l)
	else
		make_tree
	fi
	tar czf "$TGZ" -C "$TREE" .

	local targets=(plain sealfs)
	if [ -n "$BASE_BIN" ]; then
		[ -x "$BASE_BIN" ] || die "BENCH_BASE_BIN $BASE_BIN is not an executable"
		targets+=(base)
	fi
	if command -v gocryptfs >/dev/null; then
		targets+=(gocryptfs)
	else
		log "gocryptfs is not installed: skipping it (apt-get install gocryptfs)"
	fi
	local t r
	for ((r = 1; r <= ROUNDS; r++)); do
		for t in "${targets[@]}"; do
			log "round $r of $ROUNDS"
			bench_target "$t"
		done
	done
	for t in "${targets[@]}"; do
		log "$t: write ${WRITE[$t]}MB/s, read ${READ[$t]}MB/s, rsync ${FILES[$t]}files/s"
		WRITE[$t]=$(median "${WRITE[$t]}")
		READ[$t]=$(median "${READ[$t]}")
		FILES[$t]=$(median "${FILES[$t]}")
		for m in RSYNC RSYNC2 LSLR TARX; do
			local -n series=$m
			series[$t]=$(median "${series[$t]}")
		done
	done

	printf '\nsealfs benchmark: %d MiB file, %d small files, in %s; page cache %s; median of %d\n\n' \
		"$SIZE_MB" "$NFILES" "$WORKROOT" "$CACHE_NOTE" "$ROUNDS"
	printf '%-10s %12s %8s %12s %8s %14s %8s\n' target "write MB/s" ratio "read MB/s" ratio "rsync files/s" ratio
	for t in "${targets[@]}"; do
		printf '%-10s %12s %8s %12s %8s %14s %8s\n' "$t" \
			"${WRITE[$t]}" "$(ratio "${WRITE[$t]}" "${WRITE[plain]}")" \
			"${READ[$t]}" "$(ratio "${READ[$t]}" "${READ[plain]}")" \
			"${FILES[$t]}" "$(ratio "${FILES[$t]}" "${FILES[plain]}")"
	done
	printf '\nsmall files (%d): seconds, then the ratio to plain, then to gocryptfs (when it ran)\n\n' "$NFILES"
	printf '%-10s %22s %22s %22s %22s\n' target "rsync -a (empty)" "tar xzf" "rsync -a (again)" "ls -lR (cold)"
	for t in "${targets[@]}"; do
		local row=() m
		for m in RSYNC TARX RSYNC2 LSLR; do
			local -n series=$m
			local cell="${series[$t]}s $(ratio "${series[$t]}" "${series[plain]}")"
			[ -n "${series[gocryptfs]:-}" ] && cell+=" $(ratio "${series[$t]}" "${series[gocryptfs]}")"
			row+=("$cell")
		done
		printf '%-10s %22s %22s %22s %22s\n' "$t" "${row[@]}"
	done
	if [ -n "$BASE_BIN" ]; then
		printf '\nsealfs / base: write %s, read %s, rsync %s\n' \
			"$(ratio "${WRITE[sealfs]}" "${WRITE[base]}")" "$(ratio "${READ[sealfs]}" "${READ[base]}")" \
			"$(ratio "${FILES[sealfs]}" "${FILES[base]}")"
	fi
	printf '\nsealfs daemon peak RSS (VmHWM) while writing the %d MiB file: %s MiB\n' \
		"$SIZE_MB" "$(awk -v k="$SEALFS_HWM_WRITE" 'BEGIN { printf "%.1f", k / 1024 }')"
}

main "$@"
