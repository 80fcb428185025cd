package state

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/rs/zerolog"
	bolt "go.etcd.io/bbolt"
	"go.uber.org/goleak"

	"github.com/snbridge/snbridge/bridge/boltfile"
	"github.com/snbridge/snbridge/bridge/boltfile/boltfiletest"
	"github.com/snbridge/snbridge/mqttsn"
	"github.com/snbridge/snbridge/mqttsn/session"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// run opens the store at path and runs its writer until stop is called.
func run(t *testing.T, path string) (s *Store, stop func()) {
	t.Helper()
	s, err := Open(Config{Path: path, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	var once bool
	stop = func() {
		if once {
			return
		}
		once = true
		cancel()
		<-done
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	t.Cleanup(stop)
	return s, stop
}

func commit(t *testing.T, s *Store, changes ...Change) {
	t.Helper()
	errc := make(chan error, 1)
	s.Commit(changes, func(err error) { errc <- err })
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func rec(id string, payloads ...string) *Record {
	r := &Record{Snapshot: session.Snapshot{
		ClientID: id, State: session.Asleep, SleepFor: 60e9,
		Topics: map[string]uint16{"a/b": 1}, Subscriptions: map[string]mqttsn.QoS{"a/#": 1},
	}, MaxPacket: 84}
	for _, p := range payloads {
		r.Snapshot.Queue = append(r.Snapshot.Queue, session.Message{Topic: "a/b", Payload: []byte(p), QoS: 1})
	}
	return r
}

func TestSaveDeleteReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, stop := run(t, path)
	if len(s.Records()) != 0 {
		t.Fatalf("new file has records: %v", s.Records())
	}
	commit(t, s, Change{ClientID: "c1", Record: rec("c1", "old")}, Change{ClientID: "c2", Record: rec("c2")})
	commit(t, s, Change{ClientID: "c1", Record: rec("c1", "m1", "m2")}, Change{ClientID: "c2"}, Change{ClientID: "c3", Record: rec("c3")})
	stop()

	s2, _ := run(t, path)
	want := []Record{*rec("c1", "m1", "m2"), *rec("c3")}
	if d := cmp.Diff(want, s2.Records(), cmpopts.EquateEmpty()); d != "" {
		t.Fatalf("reloaded records (-want +got):\n%s", d)
	}
}

// TestGroupCommit: batches queued while the writer is busy end up in
// one transaction, callbacks in order; later changes win.
func TestGroupCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	var order []int
	for i := range 5 {
		s.Commit([]Change{{ClientID: "c1", Record: rec("c1", strings.Repeat("x", i))}}, func(err error) {
			if err != nil {
				t.Error(err)
			}
			order = append(order, i)
		})
	}
	// Nothing is written before Run; all five go in one transaction.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.Run(ctx) // drains, then returns
	if d := cmp.Diff([]int{0, 1, 2, 3, 4}, order); d != "" {
		t.Fatalf("callback order (-want +got):\n%s", d)
	}
	errc := make(chan error, 1)
	s.Commit(nil, func(err error) { errc <- err })
	if err := <-errc; err != ErrClosed {
		t.Errorf("commit after Run: %v", err)
	}
	s.Close()
	s2, stop := run(t, path)
	defer stop()
	if got := s2.Records(); len(got) != 1 || len(got[0].Snapshot.Queue) != 1 || string(got[0].Snapshot.Queue[0].Payload) != "xxxx" {
		t.Fatalf("last change did not win: %+v", got)
	}
}

func TestOpenErrors(t *testing.T) {
	bad := boltfiletest.MakeBad(t, fileFormat, "snbridge-state/99")
	badRecord := filepath.Join(t.TempDir(), "bad.db")
	boltfiletest.Write(t, badRecord, func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucket([]byte(fileFormat.Bucket))
		b.Put([]byte(boltfile.TagKey), []byte(FormatVersion))
		s, _ := tx.CreateBucket(bucketSessions)
		s.Put([]byte("ok"), []byte(`{"Snapshot":{"ClientID":"ok"}}`))
		return s.Put([]byte("sensor-7"), []byte(`{"Snapshot":{"ClientID":`))
	})
	for _, tt := range []struct {
		name, path string
		want       []string
	}{
		{"garbage", bad.Damaged, []string{bad.Damaged, "damaged or not a snbridge state file", "move it away"}},
		{"other format tag", bad.OtherTag, []string{bad.OtherTag, `format "snbridge-state/99"`, FormatVersion, "run the snbridge version that wrote it", "move the file away"}},
		{"another program's file", bad.Foreign, []string{bad.Foreign, "no format tag", "move the file away"}},
		{"damaged record", badRecord, []string{badRecord, `session "sensor-7"`, "damaged", "move it away"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			info, _ := os.Stat(tt.path)
			s, err := Open(Config{Path: tt.path})
			if err == nil {
				s.Close()
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if after, _ := os.Stat(tt.path); after.Size() != info.Size() {
				t.Errorf("file changed: %d -> %d bytes", info.Size(), after.Size())
			}
		})
	}
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	_, stop := run(t, path)
	defer stop()
	_, err := Open(Config{Path: path})
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second Open: %v", err)
	}
}
