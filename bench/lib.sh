# bench/lib.sh - helpers the benchmark scripts share; source it.

# is_mounted DIR: whether DIR is a mountpoint in this namespace.
is_mounted() { awk -v m="$1" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo; }

# now: the time in seconds, with microseconds.
now() { printf '%s' "$EPOCHREALTIME"; }

# median: the median of the numbers on stdin, one per line.
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# elapsed T0 T1: T1 - T0 in seconds.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { print b - a }'; }
