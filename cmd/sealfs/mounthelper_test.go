package main

import (
	"slices"
	"strings"
	"testing"
)

// TestMountHelperArgs: mount(8)'s helper arguments become `sealfs mount`
// arguments; its generic options are ignored, sealfs's own map to flags.
func TestMountHelperArgs(t *testing.T) {
	base := []string{"mount", "--store=/var/lib/sealfs", "--no-init", "--quiet"}
	tests := []struct {
		name string
		args []string
		want []string // after base, before "-- /backup"
	}{
		{"fstab defaults", []string{"/var/lib/sealfs", "/backup", "-o", "rw,key_file=/etc/sealfs/master.key,_netdev"},
			[]string{"--key-file=/etc/sealfs/master.key"}},
		{"no options", []string{"/var/lib/sealfs", "/backup"}, nil},
		{"flags before and joined", []string{"-sfnv", "/var/lib/sealfs", "-orw,allow_other", "/backup", "-t", "fuse.sealfs"},
			[]string{"--allow-other"}},
		{"what mount(8) passes for user", []string{"/var/lib/sealfs", "/backup", "-o", "rw,nosuid,nodev,exec,user,noatime,nofail"}, nil},
		{"every sealfs option", []string{"/var/lib/sealfs", "/backup", "-o",
			"remote=s3://b/p?endpoint=http://127.0.0.1:9000&region=x,drain_timeout=5m,seal_after=0s,read_timeout=9s,retention=1h," +
				"workers=2,cache_max=20G,web=127.0.0.1:8080,web_tls_cert=/c,web_tls_key=/k,log_format=json,debug"},
			[]string{"--remote=s3://b/p?endpoint=http://127.0.0.1:9000&region=x", "--drain-timeout=5m", "--seal-after=0s",
				"--read-timeout=9s", "--retention=1h", "--workers=2", "--cache-max=20G", "--web=127.0.0.1:8080",
				"--web-tls-cert=/c", "--web-tls-key=/k", "--log-format=json", "--debug"}},
		{"comments", []string{"/var/lib/sealfs", "/backup", "-o", "x-systemd.automount,X-mount.mkdir,comment=systemd.automount"}, nil},
		{"sloppy skips unknown", []string{"/var/lib/sealfs", "/backup", "-s", "-o", "uid=0,key_file=/k"}, []string{"--key-file=/k"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseHelperCall(tt.args)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.mountArgs()
			if err != nil {
				t.Fatal(err)
			}
			want := append(append(slices.Clone(base), tt.want...), "--", "/backup")
			if !slices.Equal(got, want) {
				t.Errorf("got  %q\nwant %q", got, want)
			}
		})
	}
}

// TestMountHelperRefuses: what the helper cannot do is one line and
// mount(8)'s status 1, before anything starts.
func TestMountHelperRefuses(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown option", []string{"/s", "/m", "-o", "key_file=/k,colour=blue"}, `unknown option "colour=blue"`},
		{"ro", []string{"/s", "/m", "-o", "ro"}, "option ro: sealfs mounts a store read-write"},
		{"noexec", []string{"/s", "/m", "-o", "rw,noexec,user"}, "option noexec"},
		{"value missing", []string{"/s", "/m", "-o", "key_file"}, "option key_file needs a value"},
		{"value empty", []string{"/s", "/m", "-o", "key_file="}, "option key_file needs a value"},
		{"value given to a switch", []string{"/s", "/m", "-o", "allow_other=1"}, "option allow_other takes no value"},
		{"generic option with a value", []string{"/s", "/m", "-o", "nofail=yes"}, `unknown option "nofail=yes"`},
		{"one argument", []string{"/s"}, "want STORE and MOUNTPOINT, got 1"},
		{"three arguments", []string{"/s", "/m", "/x"}, "want STORE and MOUNTPOINT, got 3"},
		{"-o at the end", []string{"/s", "/m", "-o"}, "-o needs an argument"},
		{"another type", []string{"/s", "/m", "-t", "fuse.sshfs"}, "-t fuse.sshfs"},
		{"namespace", []string{"/s", "/m", "-N", "/proc/1/ns/mnt"}, "-N"},
		{"unknown flag", []string{"/s", "/m", "-x"}, "unknown flag -x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseHelperCall(tt.args)
			if err == nil {
				_, err = c.mountArgs()
			}
			if err == nil {
				t.Fatalf("%q accepted", tt.args)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") {
				t.Errorf("error %q, want one line with %q", msg, tt.want)
			}
			if s := helperStatus(err); s != helperUsage {
				t.Errorf("status %d, want %d", s, helperUsage)
			}
		})
	}
}

// TestIsMountHelper: only the helper's own name switches sealfs into it.
func TestIsMountHelper(t *testing.T) {
	for argv0, want := range map[string]bool{
		"/sbin/mount.fuse.sealfs": true, "mount.fuse.sealfs": true, "/usr/sbin/fs.d/mount.fuse.sealfs": true,
		"sealfs": false, "/usr/local/bin/sealfs": false, "mount.fuse": false, "mount.fuse.sealfs.old": false,
	} {
		if got := isMountHelper(argv0); got != want {
			t.Errorf("isMountHelper(%q) = %v, want %v", argv0, got, want)
		}
	}
}
