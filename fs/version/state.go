package version

// State is where an open file's content is in its lifecycle. It decides
// what a change, a save, an fsync and the last close do.
//
//	closed  --open------------------> sealed   (an existing version, read as it is)
//	closed  --open damaged, writable-> broken   (only replacing it works)
//	closed  --create, open(O_TRUNC)--> fresh    (a new, empty version)
//	sealed  --change----------------> copying  (a copy under a new file ID and DEK)
//	durable --change----------------> copying
//	copying --save------------------> fresh    (the record moves to the copy)
//	fresh   --fsync-----------------> durable  (what fsync made durable is never changed in place)
//	any     --truncate to 0---------> fresh    (a new, empty version; the old one is not read)
//	any     --last close------------> closed   (fresh, copying and durable are queued for upload)
type State int

const (
	// Closed: no handle has the content open; nothing is loaded.
	Closed State = iota
	// Sealed: a version from an earlier open. It never changes: the first
	// change copies it.
	Sealed
	// Fresh: a version this open started (create, O_TRUNC, truncate to
	// zero, a saved copy). It is changed in place.
	Fresh
	// Copying: a copy of a sealed or durable version that is not saved yet.
	// The record still points at the old version, so a crash before the
	// save finds the old, complete one.
	Copying
	// Durable: a version this open started and fsync made durable. The next
	// change copies it, so a crash can never tear what fsync promised.
	Durable
	// Broken: the version failed authentication but was opened for
	// writing, so that the truncation that follows open(O_TRUNC) can
	// replace it. Everything else fails.
	Broken
)

var stateNames = [...]string{"closed", "sealed", "fresh", "copying", "durable", "broken"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "unknown"
}

// started reports whether this open made the version, which the last close
// then queues for upload.
func (s State) started() bool {
	return s == Fresh || s == Copying || s == Durable
}

// inPlace reports whether a change may write the version in place.
func (s State) inPlace() bool {
	return s == Fresh || s == Copying
}
