package meta

import (
	"bytes"
	"errors"

	badger "github.com/dgraph-io/badger/v4"
)

// Backup schedules are kept by name, as opaque values (the schedule
// package's JSON), sealed like every other value.

func scheduleKey(name string) []byte { return append([]byte{tagSchedule}, name...) }

// PutSchedule stores the schedule called name.
func (tx *Tx) PutSchedule(name string, v []byte) error { return tx.set(scheduleKey(name), v) }

// Schedule returns the schedule called name, or ErrNotFound.
func (tx *Tx) Schedule(name string) ([]byte, error) { return tx.get(scheduleKey(name)) }

// DeleteSchedule removes the schedule called name; ErrNotFound if none.
func (tx *Tx) DeleteSchedule(name string) error {
	if _, err := tx.txn.Get(scheduleKey(name)); errors.Is(err, badger.ErrKeyNotFound) {
		return ErrNotFound
	}
	return tx.delete(scheduleKey(name))
}

// Schedules calls fn for every schedule in name order until fn returns false.
func (tx *Tx) Schedules(fn func(name string, v []byte) bool) error {
	return tx.scanKeys([]byte{tagSchedule}, func(k, v []byte) (bool, error) {
		return fn(string(bytes.TrimPrefix(k, []byte{tagSchedule})), v), nil
	})
}
