package boltfile_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/snbridge/snbridge/bridge/boltfile"
	"github.com/snbridge/snbridge/bridge/boltfile/boltfiletest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var testFormat = boltfile.Format{
	Tag:   "test/1",
	Kind:  "test file",
	Fresh: "to start empty; its records are then lost",
}

// tag returns the tag stored in bucket of the file at path ("" if none).
func tag(t *testing.T, path, bucket string) string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got string
	db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte(bucket)); b != nil {
			got = string(b.Get([]byte(boltfile.TagKey)))
		}
		return nil
	})
	return got
}

func TestNewFileGetsTag(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	inits := 0
	f := testFormat
	f.Bucket = "snbridge"
	f.Init = func(tx *bolt.Tx) error {
		inits++
		_, err := tx.CreateBucket([]byte("records"))
		return err
	}
	for range 2 { // create, then reopen: Init runs only for the new file
		db, err := boltfile.Open(path, f, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if got := tag(t, path, "snbridge"); got != "test/1" {
		t.Errorf("tag = %q, want %q", got, "test/1")
	}
	if inits != 1 {
		t.Errorf("Init ran %d times, want 1", inits)
	}
}

func TestDefaultBucket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	db, err := boltfile.Open(path, testFormat, &bolt.Options{FreelistType: bolt.FreelistMapType})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if got := tag(t, path, boltfile.DefaultBucket); got != "test/1" {
		t.Errorf("tag in %q = %q, want %q", boltfile.DefaultBucket, got, "test/1")
	}
}

func TestInitErrorStopsOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.db")
	f := testFormat
	f.Init = func(*bolt.Tx) error { return errors.New("init refused") }
	if db, err := boltfile.Open(path, f, nil); err == nil || err.Error() != "init refused" {
		if db != nil {
			db.Close()
		}
		t.Fatalf("err = %v, want init refused", err)
	}
	if got := tag(t, path, boltfile.DefaultBucket); got != "" {
		t.Errorf("tag %q written although Init failed", got)
	}
}

func TestOpenErrors(t *testing.T) {
	bad := boltfiletest.MakeBad(t, testFormat, "test/0")
	for _, tt := range []struct {
		name, path string
		want       string
	}{
		{"damaged", bad.Damaged, " (the file is damaged or not a test file: move it away to start empty; its records are then lost)"},
		{"page damaged", bad.PageDamaged, " (the file is damaged or not a test file: move it away to start empty; its records are then lost)"},
		{"truncated", bad.Truncated, " (the file is damaged or not a test file: move it away to start empty; its records are then lost)"},
		{"foreign", bad.Foreign, "no format tag: not a test file (another program's bbolt file?); point data_dir elsewhere or move the file away to start empty; its records are then lost"},
		{"other tag", bad.OtherTag, `format "test/0", this build reads "test/1": run the snbridge version that wrote it, or move the file away to start empty; its records are then lost`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before, err := os.ReadFile(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			db, err := boltfile.Open(tt.path, testFormat, nil)
			if err == nil {
				db.Close()
				t.Fatal("no error")
			}
			if !strings.HasSuffix(err.Error(), tt.want) {
				t.Errorf("error %q\ndoes not end in %q", err, tt.want)
			}
			if errors.Is(err, boltfile.ErrLocked) {
				t.Errorf("error %q is boltfile.ErrLocked", err)
			}
			if after, _ := os.ReadFile(tt.path); string(after) != string(before) {
				t.Errorf("file changed: %d -> %d bytes", len(before), len(after))
			}
		})
	}
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locked.db")
	db, err := boltfile.Open(path, testFormat, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = boltfile.Open(path, testFormat, &bolt.Options{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, boltfile.ErrLocked) {
		t.Fatalf("second Open: %v, want boltfile.ErrLocked", err)
	}
	const want = "file is locked by another process (is another snbridge running with the same data_dir?)"
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}
