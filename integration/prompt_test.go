package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// promptTimeout bounds each wait on a prompted command.
const promptTimeout = 60 * time.Second

// ptyCommand is a sealfs process whose stdin, stdout and stderr are a new
// pseudo-terminal, its controlling terminal: what a user at a shell runs.
type ptyCommand struct {
	cmd    *exec.Cmd
	master *os.File
	out    *lockedBuffer // everything the terminal showed
	exited chan struct{}
	err    error
}

func startOnPty(t *testing.T, args ...string) *ptyCommand {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("pty number: %v", err)
	}
	slave, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	cmd := exec.Command(sealfsBin, args...)
	cmd.Env = sealfsEnv(t)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sealfs on a pty: %v", err)
	}
	slave.Close()
	p := &ptyCommand{cmd: cmd, master: master, out: &lockedBuffer{}, exited: make(chan struct{})}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			p.out.Write(buf[:n])
			if err != nil { // EIO once the last process left the terminal
				return
			}
		}
	}()
	go func() { p.err = cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// waitFor waits until the terminal has shown s.
func (p *ptyCommand) waitFor(t *testing.T, s string) {
	t.Helper()
	if !waitFor(promptTimeout, func() bool { return strings.Contains(p.out.String(), s) }) {
		t.Fatalf("the terminal never showed %q; it shows:\n%s", s, p.out.String())
	}
}

// typeLine types a line, as a user would at the prompt.
func (p *ptyCommand) typeLine(t *testing.T, s string) {
	t.Helper()
	if _, err := p.master.Write([]byte(s + "\r")); err != nil {
		t.Fatalf("type into the pty: %v", err)
	}
}

// wait returns the exit status of the command.
func (p *ptyCommand) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(promptTimeout):
		t.Fatalf("sealfs on the pty did not exit; it shows:\n%s", p.out.String())
	}
	var exit *exec.ExitError
	if errors.As(p.err, &exit) {
		return exit.ExitCode()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0
}

// TestPassphrasePrompt: on a terminal, with no key file and no passphrase
// file, sealfs asks for the passphrase with echo off; ls and a foreground
// mount then run, and a wrong answer exits 2.
func TestPassphrasePrompt(t *testing.T) {
	m := mountSealfs(t)
	mustWriteFile(t, filepath.Join(m.Dir, "prompted.txt"), []byte("asked for\n"), 0o644)
	m.Unmount(t)
	const passphrase = "typed at the prompt"
	pass := secretFile(t, passphrase)
	runSealfsOK(t, "key", "add", "--store", m.Store, "--unlock-key-file", m.Key, "--passphrase", "--new-passphrase-file", pass, cheapKDF)
	// The key file would be used without asking if it were the default
	// one; here it is not, so every command below must ask.

	p := startOnPty(t, "ls", "--store", m.Store)
	p.waitFor(t, "Passphrase for "+m.Store+": ")
	p.typeLine(t, passphrase)
	if code := p.wait(t); code != 0 || !strings.Contains(p.out.String(), "prompted.txt") {
		t.Fatalf("ls after the prompt: exit %d; the terminal shows:\n%s", code, p.out.String())
	}
	if strings.Contains(p.out.String(), passphrase) {
		t.Fatalf("the passphrase was echoed:\n%s", p.out.String())
	}

	p = startOnPty(t, "ls", "--store", m.Store)
	p.waitFor(t, "Passphrase for ")
	p.typeLine(t, "not the passphrase")
	if code := p.wait(t); code != 2 || !strings.Contains(p.out.String(), "the passphrase opens no key slot") {
		t.Fatalf("ls after a wrong answer: exit %d; the terminal shows:\n%s", code, p.out.String())
	}

	mnt := filepath.Join(t.TempDir(), "mnt")
	mustMkdir(t, mnt, 0o755)
	if resolved, err := filepath.EvalSymlinks(mnt); err == nil {
		mnt = resolved // as mountinfo shows it
	}
	p = startOnPty(t, "mount", "--store", m.Store, mnt)
	t.Cleanup(func() {
		if _, mounted := mountFSType(t, mnt); mounted {
			unmountDir(t, mnt)
		}
	})
	p.waitFor(t, "Passphrase for ")
	p.typeLine(t, passphrase)
	if !waitFor(mountTimeout, func() bool { _, ok := mountFSType(t, mnt); return ok }) {
		t.Fatalf("the prompted mount never appeared; the terminal shows:\n%s", p.out.String())
	}
	if b := readFile(t, filepath.Join(mnt, "prompted.txt")); string(b) != "asked for\n" {
		t.Fatalf("prompted.txt through the prompted mount: %q", b)
	}
	unmountDir(t, mnt)
	if code := p.wait(t); code != 0 {
		t.Fatalf("the prompted mount exited %d; the terminal shows:\n%s", code, p.out.String())
	}
	if strings.Contains(p.out.String(), passphrase) {
		t.Fatalf("the passphrase was echoed or logged:\n%s", p.out.String())
	}
}
