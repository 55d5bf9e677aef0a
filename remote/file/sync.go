package file

import (
	"os"
	"syscall"
)

// syncDir makes a link, rename, unlink or mkdir in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return classify(err)
	}
	defer d.Close()
	return classify(d.Sync())
}

// lockDir takes an exclusive flock on dir. flock locks belong to the open
// file description, so two goroutines of one process exclude each other as
// two processes do.
func lockDir(dir string) (unlock func(), err error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, classify(err)
	}
	for {
		err = syscall.Flock(int(d.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		d.Close()
		return nil, classify(err)
	}
	// Closing the descriptor releases the lock.
	return func() { d.Close() }, nil
}
