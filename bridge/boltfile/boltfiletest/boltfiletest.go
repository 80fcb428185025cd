package boltfiletest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/snbridge/snbridge/bridge/boltfile"
)

// Bad names files in a test's temporary directory that [boltfile.Open]
// must refuse, each for its own reason.
type Bad struct {
	Damaged  string // damaged.db: not a bbolt file at all
	Foreign  string // foreign.db: a bbolt file with bucket "sessions" and no tag
	OtherTag string // other.db: the format's tag bucket holding another tag
}

// MakeBad writes the files of [Bad] into a new temporary directory; the
// OtherTag file holds tag in f's tag bucket.
func MakeBad(t testing.TB, f boltfile.Format, tag string) Bad {
	t.Helper()
	dir := t.TempDir()
	b := Bad{
		Damaged:  filepath.Join(dir, "damaged.db"),
		Foreign:  filepath.Join(dir, "foreign.db"),
		OtherTag: filepath.Join(dir, "other.db"),
	}
	if err := os.WriteFile(b.Damaged, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	Write(t, b.Foreign, func(tx *bolt.Tx) error {
		_, err := tx.CreateBucket([]byte("sessions"))
		return err
	})
	bucket := f.Bucket
	if bucket == "" {
		bucket = boltfile.DefaultBucket
	}
	Write(t, b.OtherTag, func(tx *bolt.Tx) error {
		m, err := tx.CreateBucket([]byte(bucket))
		if err != nil {
			return err
		}
		return m.Put([]byte(boltfile.TagKey), []byte(tag))
	})
	return b
}

// Write makes a bbolt file at path holding what fill writes in one
// transaction.
func Write(t testing.TB, path string, fill func(*bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(fill); err != nil {
		db.Close()
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}
