// Package integration holds end-to-end tests of sealfs: each test builds the
// real sealfs binary once (TestMain), mounts it with FUSE on a fresh
// temporary store, drives it with ordinary tools (cp, tar, rsync, dd,
// truncate, setfattr) and checks bytes, hashes and errnos against a plain
// directory.
//
// The tests need Linux, /dev/fuse and the fuse3, rsync and attr packages;
// scripts/test.sh installs them on Debian. A missing /dev/fuse fails the
// tests instead of skipping them. Set SEALFS_RACE=1 to build the daemon
// with the race detector, or SEALFS_BIN to test a prebuilt binary.
package integration
