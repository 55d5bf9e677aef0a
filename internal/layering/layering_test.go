// Package layering holds the test that keeps the architecture's seams:
// lower layers never import higher ones (STYLE.md rule 1).
package layering

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/sealfs/sealfs/"

// allowed lists, for each package, the packages of ours it may import.
// A package missing here may import nothing of ours.
var allowed = map[string][]string{
	"crypto":          nil,
	"backup":          nil,
	"schedule":        {"backup", "meta"},
	"meta":            nil,
	"keyslot":         {"crypto"},
	"store":           {"crypto", "keyslot", "meta"},
	"fs":              {"crypto", "meta", "fs/version"},
	"fs/version":      {"crypto", "meta"},
	"remote/driver":   nil,
	"remote":          {"remote/driver"},
	"remote/snapshot": {"crypto", "remote", "remote/driver"},
	"remote/uploader": {"crypto", "meta", "remote", "remote/driver", "remote/snapshot"},
	"remote/cache":    {"crypto", "meta", "remote", "remote/driver", "remote/uploader"},
	"check":           {"crypto", "meta", "store", "remote", "remote/cache", "remote/driver", "remote/uploader"},
	"recovery":        {"crypto", "keyslot", "meta", "store", "remote", "remote/driver", "remote/snapshot", "remote/uploader"},
}

// TestLayering checks every non-test import of the packages above.
func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "github.com/sealfs/sealfs/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		may, ok := allowed[pkg]
		if !ok && !isDriver(pkg) {
			continue
		}
		if isDriver(pkg) {
			may = []string{"remote/driver"}
		}
		seen++
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			if dep := strings.TrimPrefix(imp, module); !contains(may, dep) {
				t.Errorf("%s imports %s: not allowed by the layering", pkg, dep)
			}
		}
	}
	if seen < len(allowed) {
		t.Errorf("go list showed %d of the %d layered packages", seen, len(allowed))
	}
}

// isDriver reports whether pkg is a bucket driver (not its test helpers).
func isDriver(pkg string) bool {
	switch pkg {
	case "remote/file", "remote/gcs", "remote/s3", "remote/azblob":
		return true
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
