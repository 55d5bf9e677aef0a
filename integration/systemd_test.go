package integration

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// unitFile is the systemd unit the repository ships, and installedBin the
// path its ExecStart names.
const (
	unitFile     = "../contrib/systemd/sealfs@.service"
	installedBin = "/usr/local/bin/sealfs"
)

// TestSystemdUnitVerifies: the unit, pointed at the binary under test,
// passes systemd-analyze verify (as the instance for /backup) without a
// single warning.
func TestSystemdUnitVerifies(t *testing.T) {
	requireTools(t, "systemd-analyze")
	unit, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(unit), "\nExecStart="+installedBin+" mount ") {
		t.Fatalf("%s: no ExecStart=%s mount ...", unitFile, installedBin)
	}
	dir := t.TempDir()
	template := filepath.Join(dir, "sealfs@.service")
	mustWriteFile(t, template, []byte(strings.ReplaceAll(string(unit), installedBin, sealfsBin)), 0o644)
	instance := filepath.Join(dir, "sealfs@backup.service")
	if err := os.Symlink(template, instance); err != nil {
		t.Fatal(err)
	}
	r := runTool(t, "systemd-analyze", "verify", "--man=no", instance)
	if r.Code != 0 || r.Stdout != "" || r.Stderr != "" {
		t.Errorf("systemd-analyze verify exited %d:\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}

// namespacingKeys are the unit settings that give a service a mount
// namespace of its own (systemd.exec(5)), or a user namespace in which its
// CAP_SYS_ADMIN is not the host's: with any of them the FUSE mount would
// not be seen outside the service, or not be made at all.
var namespacingKeys = []string{
	"PrivateTmp", "PrivateDevices", "PrivateMounts", "PrivateUsers",
	"ProtectSystem", "ProtectHome", "ProtectProc", "ProcSubset",
	"ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs", "ProtectControlGroups",
	"ReadOnlyPaths", "ReadWritePaths", "InaccessiblePaths", "ExecPaths", "NoExecPaths",
	"TemporaryFileSystem", "BindPaths", "BindReadOnlyPaths", "MountAPIVFS", "MountFlags",
	"RootDirectory", "RootImage",
}

// TestSystemdUnitMountsOnTheHost: the hardening in the unit keeps the
// service in the host's mount namespace, with /dev/fuse and CAP_SYS_ADMIN.
func TestSystemdUnitMountsOnTheHost(t *testing.T) {
	f, err := os.Open(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	settings := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if key, value, ok := strings.Cut(strings.TrimSpace(sc.Text()), "="); ok && !strings.HasPrefix(key, "#") {
			settings[key] = append(settings[key], value)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	for _, k := range namespacingKeys {
		if v, ok := settings[k]; ok {
			t.Errorf("%s=%s would put the mount in a namespace of the service's own", k, v)
		}
	}
	if caps := strings.Join(settings["CapabilityBoundingSet"], " "); caps != "" && !strings.Contains(caps, "CAP_SYS_ADMIN") {
		t.Errorf("CapabilityBoundingSet=%s: mounting needs CAP_SYS_ADMIN", caps)
	}
	if policy := settings["DevicePolicy"]; len(policy) > 0 && !strings.Contains(strings.Join(settings["DeviceAllow"], " "), "/dev/fuse rw") {
		t.Errorf("DevicePolicy=%s without DeviceAllow=/dev/fuse rw", policy)
	}
}
