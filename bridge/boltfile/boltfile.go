package boltfile

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// TagKey is the key of the format tag in a file's tag bucket.
const TagKey = "format"

// DefaultBucket is the tag bucket of a [Format] that names none.
const DefaultBucket = "meta"

// LockTimeout is how long Open waits for another process's lock on the
// file when the options name no timeout.
const LockTimeout = time.Second

// ErrLocked is returned (wrapped) by Open when another process holds the
// file.
var ErrLocked = errors.New("file is locked by another process")

// Format describes one kind of tagged bbolt file and the words its errors
// use.
type Format struct {
	// Tag is the format tag this build reads and writes, e.g.
	// "snbridge-spool/1".
	Tag string
	// Kind names the file in errors: "the file is damaged or not a
	// <Kind>", "no format tag: not a <Kind>".
	Kind string
	// Fresh says what moving the file away gives and costs; it follows
	// "move it away ", e.g. "to start with an empty spool; its messages
	// are then lost".
	Fresh string
	// Bucket holds the tag (under [TagKey]); "" is [DefaultBucket].
	Bucket string
	// Init, if set, runs in the transaction that tags a new file, e.g.
	// to create buckets another program expects. An error stops Open.
	Init func(tx *bolt.Tx) error
}

// Open opens (creating if needed) the bbolt file at path with mode 0600
// and opts (nil: the defaults; a zero Timeout is [LockTimeout]), then
// checks its format tag, writing it into a new file. On any error the
// file is closed again; the error says what to do.
func Open(path string, f Format, opts *bolt.Options) (*bolt.DB, error) {
	o := bolt.Options{}
	if opts != nil {
		o = *opts
	}
	if o.Timeout == 0 {
		o.Timeout = LockTimeout
	}
	db, err := open(path, &o)
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("%w (is another snbridge running with the same data_dir?)", ErrLocked)
		}
		return nil, damaged(err, f)
	}
	if err := consistent(db); err != nil {
		_ = db.Close()
		return nil, damaged(err, f)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return f.check(tx) }); err != nil {
		_ = db.Close()
		return nil, err
	}
	return db, nil
}

func damaged(err error, f Format) error {
	return fmt.Errorf("%w (the file is damaged or not a %s: move it away %s)", err, f.Kind, f.Fresh)
}

// open is bolt.Open with its panics on some damaged files (a bad freelist
// page, a truncated file) turned into errors.
func open(path string, o *bolt.Options) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, fmt.Errorf("bbolt: %v", r)
		}
	}()
	return bolt.Open(path, 0o600, o)
}

// consistent runs bbolt's consistency check over the whole file, so that a
// damaged page is reported at start-up rather than met (as a panic) while
// serving. It reads every page once: well under a second for the files
// snbridge keeps.
func consistent(db *bolt.DB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt: %v", r)
		}
	}()
	return db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return fmt.Errorf("consistency check: %w", err)
		}
		return nil
	})
}

// check checks the tag in tx, or writes it (and runs Init) when the file
// has no bucket at all.
func (f *Format) check(tx *bolt.Tx) error {
	name := []byte(f.Bucket)
	if len(name) == 0 {
		name = []byte(DefaultBucket)
	}
	meta := tx.Bucket(name)
	if meta == nil {
		empty := true
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error { empty = false; return nil })
		if !empty {
			return fmt.Errorf("no format tag: not a %s (another program's bbolt file?); point data_dir elsewhere or move the file away %s", f.Kind, f.Fresh)
		}
		var err error
		if meta, err = tx.CreateBucket(name); err != nil {
			return err
		}
		if err := meta.Put([]byte(TagKey), []byte(f.Tag)); err != nil {
			return err
		}
		if f.Init != nil {
			if err := f.Init(tx); err != nil {
				return err
			}
		}
	}
	if got := meta.Get([]byte(TagKey)); !bytes.Equal(got, []byte(f.Tag)) {
		return fmt.Errorf("format %q, this build reads %q: run the snbridge version that wrote it, or move the file away %s", got, f.Tag, f.Fresh)
	}
	return nil
}
