// Command cloud measures the cost of background upload, in one run on one
// machine: the time to write a file into the mount with no remote, with a
// file:// remote and with a GCS remote (fake-gcs-server on 127.0.0.1), the
// time until `sealfs sync --wait` returns, and the raw upload rate of the
// GCS SDK to the same emulator. It prints the ratios the issue sets bars
// for: foreground write throughput with sync running against no remote, and
// upload throughput against the raw SDK rate.
//
//	go run ./bench/cloud -size 1024 [-sealfs /path/to/sealfs]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"cloud.google.com/go/storage"
	"github.com/sealfs/sealfs/internal/emulator"
	"github.com/sealfs/sealfs/remote/gcs/gcstest"
	"google.golang.org/api/option"
)

func main() {
	sizeMB := flag.Int("size", 1024, "file size in MiB")
	bin := flag.String("sealfs", "", "sealfs binary (default: go build ./cmd/sealfs)")
	work := flag.String("dir", "/var/tmp", "where stores, buckets and mounts live (a disk, not tmpfs)")
	flag.Parse()
	size := int64(*sizeMB) << 20
	root, err := os.MkdirTemp(*work, "sealfs-cloudbench-")
	check(err)
	defer os.RemoveAll(root)
	if *bin == "" {
		*bin = filepath.Join(root, "sealfs")
		run("go", "build", "-o", *bin, "./cmd/sealfs")
	}
	src := filepath.Join("/dev/shm", filepath.Base(root)+".rnd")
	run("dd", "if=/dev/urandom", "of="+src, "bs=1M", fmt.Sprintf("count=%d", *sizeMB), "status=none")
	defer os.Remove(src)

	gcs, err := gcstest.Listen()
	check(err)
	defer emulator.Cleanup()
	defer gcs.Close()
	check(gcs.CreateBucket("bench"))

	raw := rawUpload(gcs.Endpoint(), src, size)
	bucketDir := filepath.Join(root, "bucket")
	check(os.Mkdir(bucketDir, 0o700))
	// No remote runs first and last: the disk's state drifts during a run,
	// and the base is the mean of both.
	first := mountAndWrite(*bin, root, "none", "", src, size)
	results := []result{
		first,
		mountAndWrite(*bin, root, "file", "file://"+bucketDir, src, size),
		mountAndWrite(*bin, root, "gcs", gcs.URL("bench", "sealfs"), src, size),
		mountAndWrite(*bin, root, "none2", "", src, size),
	}
	mb := float64(size) / 1e6
	fmt.Printf("\nsealfs upload benchmark: %d MiB file, stores in %s, fake-gcs-server on %s\n\n", *sizeMB, *work, gcs.Endpoint())
	fmt.Printf("%-8s %12s %8s %16s %12s %8s\n", "remote", "write MB/s", "ratio", "sync --wait (s)", "upload MB/s", "vs raw")
	base := (results[0].write + results[3].write) / 2
	for _, r := range results {
		up, vsRaw := "-", "-"
		if r.upload > 0 {
			up = fmt.Sprintf("%.1f", mb/r.upload.Seconds())
			vsRaw = fmt.Sprintf("%.2fx", raw.Seconds()/r.upload.Seconds())
		}
		fmt.Printf("%-8s %12.1f %7.2fx %16.2f %12s %8s\n", r.name, mb/r.write.Seconds(),
			base.Seconds()/r.write.Seconds(), r.upload.Seconds(), up, vsRaw)
	}
	fmt.Printf("\nraw GCS SDK upload to the same emulator: %.1f MB/s\n", mb/raw.Seconds())
}

type result struct {
	name   string
	write  time.Duration // dd conv=fsync into the mount
	upload time.Duration // from the end of the write until sync --wait returns
}

// mountAndWrite mounts a fresh store (with remote url, if any), writes the
// file, and waits for the upload.
func mountAndWrite(bin, root, name, url, src string, size int64) result {
	dir := filepath.Join(root, name)
	store, key, mnt := filepath.Join(dir, "store"), filepath.Join(dir, "key"), filepath.Join(dir, "mnt")
	check(os.MkdirAll(mnt, 0o755))
	args := []string{"init", "--store", store, "--key-file", key}
	if url != "" {
		args = append(args, "--remote", url)
	}
	run(bin, args...)
	daemon := exec.Command(bin, "mount", "--store", store, "--key-file", key, "--seal-after", "0s", mnt)
	daemon.Stderr = os.Stderr
	check(daemon.Start())
	defer func() {
		run("umount", mnt)
		daemon.Wait()
	}()
	waitMounted(mnt)
	start := time.Now()
	run("dd", "if="+src, "of="+filepath.Join(mnt, "f"), "bs=1M", "conv=fsync", "status=none")
	r := result{name: name, write: time.Since(start)}
	if url != "" {
		start = time.Now()
		run(bin, "sync", "--wait", "--store", store, "--key-file", key)
		r.upload = time.Since(start)
	}
	return r
}

// rawUpload is the SDK alone: one object of the same size, 16 MiB chunks,
// as the driver sends large objects.
func rawUpload(endpoint, src string, size int64) time.Duration {
	ctx := context.Background()
	c, err := storage.NewClient(ctx, option.WithEndpoint(endpoint+"/storage/v1/"), option.WithoutAuthentication())
	check(err)
	defer c.Close()
	f, err := os.Open(src)
	check(err)
	defer f.Close()
	start := time.Now()
	w := c.Bucket("bench").Object("raw").NewWriter(ctx)
	w.ChunkSize = 16 << 20
	n, err := io.Copy(w, f)
	check(err)
	check(w.Close())
	if n != size {
		log.Fatalf("raw upload wrote %d bytes, want %d", n, size)
	}
	return time.Since(start)
}

func waitMounted(mnt string) {
	for range 400 {
		b, _ := os.ReadFile("/proc/self/mountinfo")
		if strings.Contains(string(b), " "+mnt+" ") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	log.Fatalf("%s did not mount", mnt)
}

func run(name string, args ...string) {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		log.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
