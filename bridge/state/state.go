package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/rs/zerolog"
	bolt "go.etcd.io/bbolt"

	"github.com/snbridge/snbridge/bridge/boltfile"
	"github.com/snbridge/snbridge/mqttsn/session"
)

// FormatVersion is the format tag of the files this build reads and
// writes. A change of the record encoding that older builds cannot read
// gets a new tag.
const FormatVersion = "snbridge-state/1"

// ErrClosed is passed to Commit callbacks after Run returned.
var ErrClosed = errors.New("state: closed")

var bucketSessions = []byte("sessions")

// fileFormat is the state file's format tag and the words of its errors.
var fileFormat = boltfile.Format{
	Tag:    FormatVersion,
	Kind:   "snbridge state file",
	Fresh:  "to start without stored sessions, which are then lost",
	Bucket: "meta",
}

// Record is what the store keeps for one client.
type Record struct {
	Snapshot session.Snapshot
	// MaxPacket is the largest MQTT-SN message of the transport the
	// client was last seen on (session.Config.MaxPacket); 0 = default.
	MaxPacket int `json:",omitempty"`
	// Addr is where the client was last reached; nil when it had no
	// address (it was disconnected or lost).
	Addr *Addr `json:",omitempty"`
}

// Addr is a client's address on one of the gateway's transports.
type Addr struct {
	Transport int    // index of the transport in the gateway's list
	UDP       string `json:",omitempty"` // host:port of a UDP (or DTLS) peer
	XBee      uint64 `json:",omitempty"` // 64-bit address of a radio
	// NodeID is the Wireless Node Id of a client behind a forwarder,
	// with Encap set. [MQTT-SN 1.2 §5.5]
	NodeID []byte `json:",omitempty"`
	Encap  bool   `json:",omitempty"`
}

// Change is one write of a [Store.Commit]: Record stores (replaces) the
// client's record; a nil Record deletes it.
type Change struct {
	ClientID string
	Record   *Record
}

// Config configures a [Store].
type Config struct {
	Path   string // the database file, e.g. data_dir/state.db
	Logger zerolog.Logger
}

type batch struct {
	changes []Change
	done    func(error)
}

// Store is the durable session store; see the package documentation.
type Store struct {
	cfg     Config
	db      *bolt.DB
	log     zerolog.Logger
	records []Record

	mu      sync.Mutex
	pending []batch
	closed  bool
	wake    chan struct{}
}

// Open opens (creating if needed) the store file at cfg.Path, checks its
// format tag and decodes every record. Any problem is an error naming the
// file and what to do; nothing is discarded.
func Open(cfg Config) (*Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("state: no path")
	}
	db, err := boltfile.Open(cfg.Path, fileFormat, &bolt.Options{FreelistType: bolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("state: open %s: %w", cfg.Path, err)
	}
	s := &Store{
		cfg:  cfg,
		db:   db,
		log:  cfg.Logger.With().Str("component", "bridge/state").Logger(),
		wake: make(chan struct{}, 1),
	}
	if err := s.load(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("state: open %s: %w", cfg.Path, err)
	}
	return s, nil
}

// load decodes every record (Open has checked the format tag).
func (s *Store) load() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketSessions)
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("session %q: %w: the file is damaged; move it away %s", k, err, fileFormat.Fresh)
			}
			if r.Snapshot.ClientID != string(k) {
				return fmt.Errorf("session %q: record is for client %q: the file is damaged; move it away %s", k, r.Snapshot.ClientID, fileFormat.Fresh)
			}
			s.records = append(s.records, r)
			return nil
		})
	})
}

// Records returns the records loaded by Open, ordered by client id. The
// slice is shared: do not modify it.
func (s *Store) Records() []Record { return s.records }

// Path returns the file's path.
func (s *Store) Path() string { return s.cfg.Path }

// Commit queues changes to be written in one transaction with whatever
// else is waiting; done (may be nil) is called on the writer goroutine
// once they are synced to disk, or with the error that stopped them
// (then none of the batch is written). Later changes to a client win.
func (s *Store) Commit(changes []Change, done func(error)) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		if done != nil {
			done(ErrClosed)
		}
		return
	}
	s.pending = append(s.pending, batch{changes: changes, done: done})
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run writes committed batches until ctx is cancelled, then writes what
// is still waiting and returns nil. Commits after that fail with
// ErrClosed.
func (s *Store) Run(ctx context.Context) error {
	for {
		select {
		case <-s.wake:
			s.write(s.take(false))
		case <-ctx.Done():
			s.write(s.take(true))
			return nil
		}
	}
}

func (s *Store) take(close bool) []batch {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.pending
	s.pending = nil
	if close {
		s.closed = true
	}
	return q
}

// write commits every batch in one transaction (group commit).
func (s *Store) write(q []batch) {
	if len(q) == 0 {
		return
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSessions)
		for _, bt := range q {
			for _, c := range bt.changes {
				if err := put(b, c); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("state: write %s: %w", s.cfg.Path, err)
	}
	for _, bt := range q {
		if bt.done != nil {
			bt.done(err)
		}
	}
}

func put(b *bolt.Bucket, c Change) error {
	if c.Record == nil {
		return b.Delete([]byte(c.ClientID))
	}
	v, err := json.Marshal(c.Record)
	if err != nil {
		return fmt.Errorf("encode session %q: %w", c.ClientID, err)
	}
	return b.Put([]byte(c.ClientID), v)
}

// Close closes the file. Call it after Run has returned.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("state: close %s: %w", s.cfg.Path, err)
	}
	return nil
}
