package version_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/sealfs/sealfs/crypto"
	"github.com/sealfs/sealfs/fs/version"
	"github.com/sealfs/sealfs/meta"
)

// pattern returns n bytes that differ for every seed.
func pattern(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7+i/251)
	}
	return b
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func overlay(base []byte, off int, p []byte) []byte {
	out := bytes.Clone(base)
	copy(out[off:], p)
	return out
}

var (
	contentA = pattern(1, 3*blockSize+blockSize/2) // several blocks and a partial tail
	contentB = pattern(2, 2*blockSize+17)
	patchX   = pattern(3, 300)
	patchY   = pattern(4, blockSize+5)
)

// absent marks a state in which the file does not exist yet.
var absent []byte = nil

// progress is what a scenario has been promised so far: the index of the
// oldest state a crash of the machine (after fsync) and a kill of the
// daemon (after close or fsync) may still leave.
type progress struct {
	crash, kill int
}

func (p *progress) fsynced(i int) { p.crash, p.kill = i, i }
func (p *progress) closed(i int)  { p.kill = max(p.kill, i) }

// crashScenario is a sequence of operations on theIno and the contents the
// file passes through, in order.
type crashScenario struct {
	name   string
	setup  []byte // content created and committed first; nil for none
	states [][]byte
	run    func(r *rig, p *progress) error
}

func crashScenarios() []crashScenario {
	a1 := overlay(contentA, 100, patchX)
	a2 := overlay(a1, blockSize-2, patchY)
	return []crashScenario{
		{name: "create", states: [][]byte{absent, {}, contentA},
			run: func(r *rig, p *progress) error {
				if err := r.create(contentA); err != nil {
					return err
				}
				p.closed(2)
				return r.k.Commit()
			}},
		{name: "append copies", setup: contentA, states: [][]byte{contentA, concat(contentA, contentB)},
			run: func(r *rig, p *progress) error {
				f, err := r.open(version.Write)
				if err != nil {
					return err
				}
				if err := write(f, contentB, int64(len(contentA))); err != nil {
					return err
				}
				if err := r.k.Release(f, nil); err != nil {
					return err
				}
				p.closed(1)
				return r.k.Commit()
			}},
		{name: "O_TRUNC rewrite", setup: contentA, states: [][]byte{contentA, {}, contentB},
			run: func(r *rig, p *progress) error {
				f, err := r.open(version.Replace)
				if err != nil {
					return err
				}
				if err := write(f, contentB, 0); err != nil {
					return err
				}
				if err := r.k.Release(f, nil); err != nil {
					return err
				}
				p.closed(2)
				return r.k.Commit()
			}},
		{name: "edit with fsyncs", setup: contentA, states: [][]byte{contentA, a1, a2},
			run: func(r *rig, p *progress) error {
				f, err := r.open(version.Write)
				if err != nil {
					return err
				}
				if err := write(f, patchX, 100); err != nil {
					return err
				}
				if err := fsync(f); err != nil {
					return err
				}
				p.fsynced(1)
				if err := write(f, patchY, blockSize-2); err != nil {
					return err
				}
				if err := fsync(f); err != nil {
					return err
				}
				p.fsynced(2)
				return r.k.Release(f, nil)
			}},
		{name: "edit saved twice", setup: contentA, states: [][]byte{contentA, a1, a2},
			run: func(r *rig, p *progress) error {
				f, err := r.open(version.Write)
				if err != nil {
					return err
				}
				if err := write(f, patchX, 100); err != nil {
					return err
				}
				if err := save(f); err != nil {
					return err
				}
				p.closed(1)
				if err := r.k.Commit(); err != nil {
					return err
				}
				if err := write(f, patchY, blockSize-2); err != nil {
					return err
				}
				if err := r.k.Release(f, nil); err != nil {
					return err
				}
				p.closed(2)
				return r.k.Commit()
			}},
		{name: "rsync replaces by rename", setup: contentA, states: [][]byte{contentA, contentB},
			run: func(r *rig, p *progress) error {
				const tmp meta.Ino = theIno + 1
				if err := r.createIno(tmp, contentB); err != nil {
					return err
				}
				var taken bool
				if err := r.meta.Update(func(tx *meta.Tx) (err error) {
					if err := tx.PutEntry(1, meta.Entry{Name: theName, Ino: tmp, Mode: 0o100000}); err != nil {
						return err
					}
					taken, err = r.k.InheritReplaced(tx, tmp, theIno)
					return err
				}); err != nil {
					return err
				}
				if !taken {
					return errors.New("the new file did not take the replaced one over")
				}
				p.closed(1)
				return r.k.Commit()
			}},
		{name: "shrink", setup: contentA, states: [][]byte{contentA, contentA[:blockSize+3]},
			run: func(r *rig, p *progress) error {
				f, err := r.open(version.Write)
				if err != nil {
					return err
				}
				if err := truncate(f, blockSize+3); err != nil {
					return err
				}
				if err := r.k.Release(f, nil); err != nil {
					return err
				}
				p.closed(1)
				return r.k.Commit()
			}},
		{name: "create, fsync, append, commit", states: [][]byte{absent, {}, contentA, concat(contentA, contentB)},
			run: func(r *rig, p *progress) error {
				f, err := r.k.Create(theIno, false, func(tx *meta.Tx) error {
					return tx.PutInode(meta.Inode{Ino: theIno, Mode: 0o100644, Nlink: 1})
				})
				if err != nil {
					return err
				}
				if err := write(f, contentA, 0); err != nil {
					return err
				}
				if err := fsync(f); err != nil {
					return err
				}
				p.fsynced(2)
				if err := write(f, contentB, int64(len(contentA))); err != nil {
					return err
				}
				if err := save(f); err != nil {
					return err
				}
				p.closed(3)
				if err := r.k.Commit(); err != nil {
					return err
				}
				return r.k.Release(f, nil)
			}},
	}
}

// TestCrashAtEveryStep runs each scenario, crashes it at every step that
// changes state, and restarts under every model of what survived. The file
// must then hold one of the contents it passed through, never one older
// than what fsync (or, for a kill of the daemon, close) promised, never a
// mix and never EIO; and no ciphertext file may be left behind.
func TestCrashAtEveryStep(t *testing.T) {
	key, err := crypto.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range crashScenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			steps, syncs := countSteps(t, key, sc)
			if steps < 3 {
				t.Fatalf("only %d steps: the clock does not see the operations", steps)
			}
			for at := 1; at <= steps+1; at++ {
				crashAt(t, key, sc, at, syncs)
			}
		})
	}
}

// countSteps runs sc without a crash and returns how many steps it took and
// at which of them metadata was synced (counted from the first step of sc).
func countSteps(t *testing.T, key *crypto.MasterKey, sc crashScenario) (int, []int) {
	r := setupRig(t, key, sc, false)
	start := r.clock.steps
	r.meta.syncSteps = nil
	if err := sc.run(r, &progress{}); err != nil {
		t.Fatalf("scenario without a crash: %v", err)
	}
	got, err := r.read()
	if err != nil || !bytes.Equal(got, sc.states[len(sc.states)-1]) {
		t.Fatalf("scenario without a crash ends with %d bytes (%v), want the last state", len(got), err)
	}
	var syncs []int
	for _, s := range r.meta.syncSteps {
		syncs = append(syncs, s-start)
	}
	return r.clock.steps - start, syncs
}

// setupRig is a rig with sc's setup content created and committed. With
// snapshot, its last sync is kept as the one a crash before any other sync
// falls back to.
func setupRig(t *testing.T, key *crypto.MasterKey, sc crashScenario, snapshot bool) *rig {
	r := newRig(t, key)
	r.meta.snapAt = -1
	if sc.setup != nil {
		if err := r.create(sc.setup); err != nil {
			t.Fatal(err)
		}
		if err := r.k.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	if snapshot {
		var buf bytes.Buffer
		if _, err := r.meta.Backup(&buf); err != nil {
			t.Fatal(err)
		}
		r.meta.lastSync = buf.Bytes()
	}
	return r
}

func crashAt(t *testing.T, key *crypto.MasterKey, sc crashScenario, at int, syncs []int) {
	for _, model := range []struct {
		name                    string
		metaAtSync, dataDurable bool
	}{
		{"kill", false, false},
		{"crash, metadata ahead", false, true},
		{"crash, metadata at sync", true, true},
		{"crash, data ahead", true, false},
	} {
		r := setupRig(t, key, sc, model.metaAtSync)
		r.clock.at = r.clock.steps + at
		if model.metaAtSync {
			// Keep the backup of the last sync before the crash.
			for _, s := range syncs {
				if s <= at {
					r.meta.snapAt = r.clock.steps + s
				}
			}
		}
		var p progress
		err := sc.run(r, &p)
		if err != nil && !errors.Is(err, errCrashed) {
			t.Fatalf("step %d: %v", at, err)
		}
		floor := p.crash
		if model.name == "kill" {
			floor = p.kill
		}
		where := fmt.Sprintf("crash at step %d (%s)", at, model.name)
		after := r.restart(model.metaAtSync, model.dataDurable)
		checkState(t, after, sc, floor, where)
		if err := after.k.Commit(); err != nil {
			t.Fatalf("%s: commit after recovery: %v", where, err)
		}
		if files, records := after.dataFiles(), after.contentRecords(); files != records {
			t.Errorf("%s: %d data files for %d content records", where, files, records)
		}
	}
}

func checkState(t *testing.T, r *rig, sc crashScenario, floor int, where string) {
	t.Helper()
	got, err := r.read()
	if errors.Is(err, meta.ErrNotFound) {
		if sc.states[0] != nil || floor > 0 {
			t.Errorf("%s: file missing", where)
		}
		return
	}
	if err != nil {
		t.Errorf("%s: read: %v", where, err)
		return
	}
	for i := len(sc.states) - 1; i >= floor; i-- {
		if sc.states[i] != nil && bytes.Equal(got, sc.states[i]) {
			return
		}
	}
	t.Errorf("%s: file holds %d bytes that are none of the states from %d on (sizes %v)", where, len(got), floor, stateSizes(sc.states))
}

func stateSizes(states [][]byte) []int {
	var n []int
	for _, s := range states {
		n = append(n, len(s))
	}
	return n
}
