package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
)

// mountHelperName is the name mount(8) runs for a filesystem of type
// fuse.sealfs: /sbin/mount.fuse.sealfs, installed as a symlink to sealfs.
const mountHelperName = "mount.fuse.sealfs"

// isMountHelper reports whether sealfs was started under the helper's name.
func isMountHelper(argv0 string) bool { return filepath.Base(argv0) == mountHelperName }

// The helper's exit statuses are mount(8)'s, which passes them on.
const (
	helperUsage       = 1  // incorrect invocation: an unknown option, a missing argument
	helperSystem      = 2  // the daemon could not be started
	helperMountFailed = 32 // the daemon did not mount
)

// helperFailure is an error and the exit status it ends the helper with.
type helperFailure struct {
	status int
	err    error
}

func (f helperFailure) Error() string { return f.err.Error() }
func (f helperFailure) Unwrap() error { return f.err }

func helperFail(status int, format string, args ...any) error {
	return helperFailure{status, fmt.Errorf(format, args...)}
}

// helperStatus is the exit status err ends the helper with.
func helperStatus(err error) int {
	var f helperFailure
	if errors.As(err, &f) {
		return f.status
	}
	return helperMountFailed
}

// runMountHelper is sealfs run by mount(8) as
//
//	mount.fuse.sealfs STORE MOUNTPOINT [-sfnv] [-o OPTIONS] [-t fuse.sealfs]
//
// for an /etc/fstab line such as
//
//	/var/lib/sealfs /backup fuse.sealfs defaults,key_file=/etc/sealfs/master.key,_netdev 0 0
//
// It starts `sealfs mount` in the background and returns once the mount is
// there, or with the daemon's own error lines once it gave up.
func runMountHelper(args []string, stdout, stderr io.Writer) int {
	call, err := parseHelperCall(args)
	if err == nil {
		err = call.check()
	}
	var mountArgs []string
	if err == nil {
		mountArgs, err = call.mountArgs()
	}
	if err == nil && !call.fake {
		err = detachMount(call, mountArgs, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", mountHelperName, err)
		return helperStatus(err)
	}
	return exitOK
}

// helperCall is what mount(8) asked for.
type helperCall struct {
	store, mountpoint string
	// options are the -o options in order, one per element.
	options []string
	// fake (-f) checks everything but does not mount; sloppy (-s) ignores
	// unknown options; verbose (-v) says what was started.
	fake, sloppy, verbose bool
}

// parseHelperCall reads mount(8)'s helper arguments: SOURCE and MOUNTPOINT,
// then -s -f -n -v (also together, as -sfnv), -o OPTIONS, -t TYPE.
func parseHelperCall(args []string) (helperCall, error) {
	var c helperCall
	var positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		letter, rest := a[1], a[2:]
		if letter == 'o' || letter == 't' || letter == 'N' {
			if rest == "" {
				if i+1 == len(args) {
					return c, helperFail(helperUsage, "-%c needs an argument", letter)
				}
				i++
				rest = args[i]
			}
			if err := c.takeValue(letter, rest); err != nil {
				return c, err
			}
			continue
		}
		if err := c.takeFlags(a[1:]); err != nil {
			return c, err
		}
	}
	if len(positional) != 2 {
		return c, helperFail(helperUsage, "want STORE and MOUNTPOINT, got %d arguments (usage: %s STORE MOUNTPOINT [-sfnv] [-o OPTIONS])", len(positional), mountHelperName)
	}
	c.store, c.mountpoint = positional[0], positional[1]
	return c, nil
}

// takeValue applies -o, -t or -N with its argument.
func (c *helperCall) takeValue(letter byte, v string) error {
	switch letter {
	case 'o':
		for _, o := range strings.Split(v, ",") {
			if o != "" {
				c.options = append(c.options, o)
			}
		}
	case 't':
		if v != "fuse.sealfs" && v != "sealfs" {
			return helperFail(helperUsage, "-t %s: this helper mounts fuse.sealfs", v)
		}
	case 'N':
		return helperFail(helperUsage, "-N: mounting in another namespace is not supported; run mount in that namespace")
	}
	return nil
}

// takeFlags applies the letters of -s, -f, -n, -v (or -sfnv).
func (c *helperCall) takeFlags(letters string) error {
	for _, l := range letters {
		switch l {
		case 's':
			c.sloppy = true
		case 'f':
			c.fake = true
		case 'n':
			// No /etc/mtab to write: the kernel's mount table is the record.
		case 'v':
			c.verbose = true
		default:
			return helperFail(helperUsage, "unknown flag -%c (usage: %s STORE MOUNTPOINT [-sfnv] [-o OPTIONS])", l, mountHelperName)
		}
	}
	return nil
}

// sealfsOption is a -o option of sealfs's own and the `sealfs mount` flag
// it becomes.
type sealfsOption struct {
	flag string
	// value: the option is name=VALUE; path: VALUE is a file name, made
	// absolute here because the daemon runs in /.
	value, path bool
}

// sealfsOptions are the -o options that set `sealfs mount` flags.
var sealfsOptions = map[string]sealfsOption{
	"key_file":        {flag: "--key-file", value: true, path: true},
	"passphrase_file": {flag: "--passphrase-file", value: true, path: true},
	"remote":          {flag: "--remote", value: true},
	"drain_timeout":   {flag: "--drain-timeout", value: true},
	"seal_after":      {flag: "--seal-after", value: true},
	"read_timeout":    {flag: "--read-timeout", value: true},
	"retention":       {flag: "--retention", value: true},
	"workers":         {flag: "--workers", value: true},
	"cache_max":       {flag: "--cache-max", value: true},
	"web":             {flag: "--web", value: true},
	"web_tls_cert":    {flag: "--web-tls-cert", value: true, path: true},
	"web_tls_key":     {flag: "--web-tls-key", value: true, path: true},
	"log_format":      {flag: "--log-format", value: true},
	"allow_other":     {flag: "--allow-other"},
	"debug":           {flag: "--debug"},
}

// ignoredOptions are accepted and ignored: mount(8)'s own (which it may
// pass on), the kernel's that a sealfs mount always has (rw, nosuid,
// nodev, exec, async) and the access-time ones, which only tune when an
// atime is written.
var ignoredOptions = []string{
	"defaults", "auto", "noauto", "_netdev", "nofail", "user", "nouser", "users", "owner", "group",
	"rw", "nosuid", "nodev", "exec", "async", "silent", "loud",
	"atime", "noatime", "relatime", "norelatime", "strictatime", "nostrictatime",
	"lazytime", "nolazytime", "diratime", "nodiratime",
}

// refusedOptions ask for something a sealfs mount does not do: ignoring
// them would give less than was asked for.
var refusedOptions = map[string]string{
	"ro":      "sealfs mounts a store read-write (a read-only view of a bucket is sealfs mount --read-only --remote URL)",
	"noexec":  "sealfs cannot mount noexec (user, users and owner imply it: put exec after them)",
	"sync":    "sealfs has no synchronous mode: data is on disk at fsync, and within a second of close",
	"dirsync": "sealfs has no synchronous mode: data is on disk at fsync, and within a second of close",
	"mand":    "sealfs has no mandatory locks",
}

// mountArgs turns the checked call into the arguments of `sealfs mount`.
// A missing store is never created (--no-init): at boot it means a disk
// that is not there yet, not a wish for a new store and key.
func (c helperCall) mountArgs() ([]string, error) {
	args := []string{"mount", "--store=" + c.store, "--no-init", "--quiet"}
	for _, o := range c.options {
		flag, err := c.optionFlag(o)
		if err != nil {
			return nil, err
		}
		if flag != "" {
			args = append(args, flag)
		}
	}
	return append(args, "--", c.mountpoint), nil
}

// optionFlag is the `sealfs mount` flag for one -o option ("" when it is
// ignored).
func (c helperCall) optionFlag(o string) (string, error) {
	name, value, hasValue := strings.Cut(o, "=")
	if isMountCommentOption(name) || (!hasValue && slices.Contains(ignoredOptions, name)) {
		return "", nil
	}
	if why, ok := refusedOptions[name]; ok {
		return "", helperFail(helperUsage, "option %s: %s", o, why)
	}
	so, ok := sealfsOptions[name]
	switch {
	case !ok && c.sloppy:
		return "", nil
	case !ok:
		return "", helperFail(helperUsage, "unknown option %q (sealfs takes %s)", o, strings.Join(sealfsOptionNames(), ", "))
	case so.value && (!hasValue || value == ""):
		return "", helperFail(helperUsage, "option %s needs a value: %s=VALUE", name, name)
	case !so.value && hasValue:
		return "", helperFail(helperUsage, "option %s takes no value", name)
	case !so.value:
		return so.flag, nil
	}
	if so.path {
		abs, err := filepath.Abs(value)
		if err != nil {
			return "", helperFail(helperUsage, "option %s: %v", name, err)
		}
		value = abs
	}
	return so.flag + "=" + value, nil
}

// isMountCommentOption: x-* and X-* options and comment= are for mount(8)
// and systemd, which do not pass them on; a direct call may still have them.
func isMountCommentOption(name string) bool {
	return strings.HasPrefix(name, "x-") || strings.HasPrefix(name, "X-") || name == "comment"
}

// sealfsOptionNames lists the options of sealfs's own for messages, as
// they are written: key_file=, allow_other.
func sealfsOptionNames() []string {
	var names []string
	for name, so := range sealfsOptions {
		if so.value {
			name += "="
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
