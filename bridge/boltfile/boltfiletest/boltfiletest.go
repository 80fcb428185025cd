package boltfiletest

import (
	"fmt"
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
	// PageDamaged is a file with the right tag and data whose data pages
	// were overwritten, as a disk error or an interrupted copy leaves it.
	PageDamaged string
	// Truncated is a file with the right tag and data cut to half its size.
	Truncated string
}

// MakeBad writes the files of [Bad] into a new temporary directory; the
// OtherTag file holds tag in f's tag bucket.
func MakeBad(t testing.TB, f boltfile.Format, tag string) Bad {
	t.Helper()
	dir := t.TempDir()
	b := Bad{
		Damaged:     filepath.Join(dir, "damaged.db"),
		Foreign:     filepath.Join(dir, "foreign.db"),
		OtherTag:    filepath.Join(dir, "other.db"),
		PageDamaged: filepath.Join(dir, "pages.db"),
		Truncated:   filepath.Join(dir, "truncated.db"),
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
	for _, p := range []string{b.PageDamaged, b.Truncated} {
		writeTaggedData(t, p, bucket, f.Tag)
	}
	damagePages(t, b.PageDamaged)
	fi, err := os.Stat(b.Truncated)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(b.Truncated, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
	return b
}

// writeTaggedData writes a file with the right tag and enough data to
// span many pages.
func writeTaggedData(t testing.TB, path, tagBucket, tag string) {
	t.Helper()
	Write(t, path, func(tx *bolt.Tx) error {
		m, err := tx.CreateBucket([]byte(tagBucket))
		if err != nil {
			return err
		}
		if err := m.Put([]byte(boltfile.TagKey), []byte(tag)); err != nil {
			return err
		}
		d, err := tx.CreateBucket([]byte("boltfiletest-data"))
		if err != nil {
			return err
		}
		v := []byte(strings.Repeat("v", 100))
		for i := range 2000 {
			if err := d.Put([]byte(fmt.Sprintf("key-%06d", i)), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// damagePages overwrites the header of every page after the two meta
// pages and the first data pages, leaving the meta pages intact so that
// the damage is found only when the data is read.
func damagePages(t testing.TB, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	page := int64(os.Getpagesize())
	junk := []byte(strings.Repeat("\xAB", 64))
	for off := 4 * page; off+page <= fi.Size(); off += page {
		if _, err := f.WriteAt(junk, off); err != nil {
			t.Fatal(err)
		}
	}
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
