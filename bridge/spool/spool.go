package spool

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/snbridge/snbridge/bridge/boltfile"
)

// Policy decides what happens when an append would exceed MaxBytes.
type Policy uint8

// Overflow policies.
const (
	Reject     Policy = iota // refuse the new message with ErrFull
	DropOldest               // discard the oldest messages to make room
)

// ErrFull is returned to an Append that does not fit: the spool is at
// MaxBytes under the Reject policy, the message alone is larger than
// MaxBytes, or the disk is full.
var ErrFull = errors.New("spool: full")

// ErrClosed is returned to requests made after Run returned.
var ErrClosed = errors.New("spool: closed")

var (
	bucketOrder   = []byte("order")
	bucketClients = []byte("clients")
)

// fileFormat is the spool file's format tag and the words of its errors.
var fileFormat = boltfile.Format{
	Tag:    FormatVersion,
	Kind:   "spool",
	Fresh:  "to start with an empty spool; its messages are then lost",
	Bucket: "meta",
}

// Config configures a Spool. It maps onto the [fallback] section.
type Config struct {
	Path     string        // the database file, e.g. data_dir/spool.db
	MaxBytes int64         // bound on stored message bytes (topic + payload + framing); required
	MaxAge   time.Duration // messages older than this are discarded; 0 = no limit
	Overflow Policy
	Logger   zerolog.Logger
	Now      func() time.Time // defaults to time.Now; tests inject a clock
}

// Stats is a snapshot of the spool's counters.
type Stats struct {
	Messages int   // stored now
	Bytes    int64 // stored now
	Appended uint64
	Removed  uint64
	Rejected uint64 // appends refused with ErrFull
	Dropped  uint64 // messages discarded by DropOldest
	Expired  uint64 // messages discarded by MaxAge
}

type clientState struct {
	count int
	bytes int64
}

type request struct {
	append  bool
	client  string
	seq     uint64 // Remove
	record  []byte // Append
	msgTime time.Time
	done    func(Entry, error) // Append
	removed func(error)        // Remove
}

// Spool is a durable, bounded, per-client ordered message store.
type Spool struct {
	cfg  Config
	db   *bolt.DB
	reqs chan request
	log  zerolog.Logger

	mu      sync.Mutex
	clients map[string]*clientState
	stats   Stats
	nextSeq uint64
	closed  bool
}

// Open opens (creating if needed) the spool file at cfg.Path and loads its
// index. A file of another format version, or one that is damaged, is an
// error that says what to do; nothing is discarded.
func Open(cfg Config) (*Spool, error) {
	if cfg.MaxBytes <= 0 {
		return nil, errors.New("spool: MaxBytes must be positive")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	db, err := boltfile.Open(cfg.Path, fileFormat, &bolt.Options{
		FreelistType: bolt.FreelistMapType,
		// A hard guard on the file itself, well above the logical bound
		// (bbolt files do not shrink; freed pages are reused).
		MaxSize: int(cfg.MaxBytes*4 + 4<<20),
	})
	if err != nil {
		return nil, fmt.Errorf("spool: open %s: %w", cfg.Path, err)
	}
	s := &Spool{
		cfg:     cfg,
		db:      db,
		reqs:    make(chan request, 4096),
		log:     cfg.Logger.With().Str("component", "bridge/spool").Logger(),
		clients: make(map[string]*clientState),
		nextSeq: 1,
	}
	if err := s.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("spool: open %s: %w", cfg.Path, err)
	}
	return s, nil
}

// load rebuilds the in-memory index (Open has checked the format tag).
func (s *Spool) load() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		order, err := tx.CreateBucketIfNotExists(bucketOrder)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketClients); err != nil {
			return err
		}
		return order.ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("%w: bad key", errBadRecord)
			}
			_, size, client, err := decodeIndex(v)
			if err != nil {
				return err
			}
			s.account(client, 1, int64(size))
			s.nextSeq = binary.BigEndian.Uint64(k) + 1
			return nil
		})
	})
}

// account adds n messages of size bytes to client's totals (negative to
// remove). Callers hold mu or run before the spool is shared.
func (s *Spool) account(client string, n int, size int64) {
	c := s.clients[client]
	if c == nil {
		c = &clientState{}
		s.clients[client] = c
	}
	c.count += n
	c.bytes += size
	s.stats.Messages += n
	s.stats.Bytes += size
	if c.count <= 0 {
		delete(s.clients, client)
	}
}

// Append stores m for client. done is called once m is synced to disk
// (with its Entry) or could not be stored (ErrFull, ErrClosed or an I/O
// error). m is encoded before Append returns.
func (s *Spool) Append(client string, m Message, done func(Entry, error)) {
	if m.Time.IsZero() {
		m.Time = s.cfg.Now()
	}
	rec := encodeMessage(&m)
	s.send(request{append: true, client: client, record: rec, msgTime: m.Time, done: func(e Entry, err error) {
		if err == nil {
			e.Message = m
		}
		done(e, err)
	}})
}

// Remove deletes the entry seq of client, after the upstream acknowledged
// it. Removing an entry that is gone already (dropped, expired) is not an
// error.
func (s *Spool) Remove(client string, seq uint64, done func(error)) {
	s.send(request{client: client, seq: seq, removed: done})
}

func (s *Spool) send(r request) {
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		r.fail(ErrClosed)
		return
	}
	s.reqs <- r
}

func (r *request) fail(err error) {
	if r.append {
		r.done(Entry{}, err)
	} else if r.removed != nil {
		r.removed(err)
	}
}

// Run carries out Append and Remove requests in group commits, and
// discards expired messages once a minute, until ctx is cancelled. Then it
// fails the requests still queued with ErrClosed and returns nil.
func (s *Spool) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	batch := make([]request, 0, 256)
	for {
		select {
		case <-ctx.Done():
			s.shutdown()
			return nil
		case <-tick.C:
			if err := s.Expire(); err != nil {
				s.log.Error().Err(err).Msg("spool expiry failed")
			}
		case r := <-s.reqs:
			batch = append(batch[:0], r)
		drain:
			for len(batch) < cap(batch) {
				select {
				case r := <-s.reqs:
					batch = append(batch, r)
				default:
					break drain
				}
			}
			s.commit(batch)
		}
	}
}

func (s *Spool) shutdown() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	for {
		select {
		case r := <-s.reqs:
			r.fail(ErrClosed)
		default:
			return
		}
	}
}

// Close closes the database file. Call it after Run returned.
func (s *Spool) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return s.db.Close()
}

// outcome is what one request of a batch comes to, applied to the
// in-memory index only once the transaction committed.
type outcome struct {
	entry   Entry
	err     error
	size    int64
	removed bool // a Remove that found its entry
}

type dropped struct {
	client string
	size   int64
}

// commit writes one batch in one transaction and answers every request.
func (s *Spool) commit(batch []request) {
	s.mu.Lock()
	seq := s.nextSeq
	total := s.stats.Bytes
	s.mu.Unlock()

	outcomes := make([]outcome, len(batch))
	var drops []dropped
	err := s.db.Update(func(tx *bolt.Tx) error {
		drops = drops[:0]
		order := tx.Bucket(bucketOrder)
		clients := tx.Bucket(bucketClients)
		t := total
		sq := seq
		for i := range batch {
			r := &batch[i]
			o := &outcomes[i]
			*o = outcome{}
			if !r.append {
				size, found, err := deleteEntry(order, clients, r.client, r.seq)
				if err != nil {
					return err
				}
				o.removed, o.size = found, int64(size)
				t -= int64(size)
				continue
			}
			size := int64(len(r.record))
			if size > s.cfg.MaxBytes {
				o.err = fmt.Errorf("%w: message of %d bytes exceeds spool_max_bytes", ErrFull, size)
				continue
			}
			for t+size > s.cfg.MaxBytes {
				if s.cfg.Overflow != DropOldest {
					o.err = fmt.Errorf("%w: %d of %d bytes used", ErrFull, t, s.cfg.MaxBytes)
					break
				}
				d, err := dropOldest(order, clients)
				if err != nil {
					return err
				}
				drops = append(drops, d)
				t -= d.size
			}
			if o.err != nil {
				continue
			}
			b, err := clients.CreateBucketIfNotExists([]byte(r.client))
			if err != nil {
				return err
			}
			key := seqKey(sq)
			if err := b.Put(key, r.record); err != nil {
				return err
			}
			if err := order.Put(key, encodeIndex(r.msgTime, len(r.record), r.client)); err != nil {
				return err
			}
			o.entry = Entry{Seq: sq, Client: r.client}
			o.size = size
			t += size
			sq++
		}
		return nil
	})
	if err != nil {
		s.failBatch(batch, err)
		return
	}
	s.apply(batch, outcomes, drops)
}

// failBatch answers every request of a batch whose transaction failed. A
// full disk or file is reported as ErrFull so that the sensor gets
// congestion, as for a full spool.
func (s *Spool) failBatch(batch []request, err error) {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, bolterrors.ErrMaxSizeReached) {
		s.log.Error().Err(err).Msg("spool disk full: refusing messages")
		err = fmt.Errorf("%w: disk: %v", ErrFull, err)
	} else {
		s.log.Error().Err(err).Msg("spool write failed")
		err = fmt.Errorf("spool: write: %w", err)
	}
	s.mu.Lock()
	for i := range batch {
		if batch[i].append {
			s.stats.Rejected++
		}
	}
	s.mu.Unlock()
	for i := range batch {
		batch[i].fail(err)
	}
}

func (s *Spool) apply(batch []request, outcomes []outcome, drops []dropped) {
	s.mu.Lock()
	for _, d := range drops {
		s.account(d.client, -1, -d.size)
		s.stats.Dropped++
	}
	for i := range batch {
		r, o := &batch[i], &outcomes[i]
		switch {
		case r.append && o.err != nil:
			s.stats.Rejected++
		case r.append:
			s.account(r.client, 1, o.size)
			s.stats.Appended++
			s.nextSeq = o.entry.Seq + 1
		case o.removed:
			s.account(r.client, -1, -o.size)
			s.stats.Removed++
		}
	}
	s.mu.Unlock()
	if len(drops) > 0 {
		s.log.Warn().Int("dropped", len(drops)).Msg("spool full: dropped oldest messages")
	}
	for i := range batch {
		r, o := &batch[i], &outcomes[i]
		if r.append {
			r.done(o.entry, o.err)
		} else if r.removed != nil {
			r.removed(nil)
		}
	}
}

func deleteEntry(order, clients *bolt.Bucket, client string, seq uint64) (size int, found bool, err error) {
	key := seqKey(seq)
	v := order.Get(key)
	if v == nil {
		return 0, false, nil
	}
	_, size, owner, err := decodeIndex(v)
	if err != nil {
		return 0, false, err
	}
	if owner != client {
		return 0, false, nil
	}
	if err := order.Delete(key); err != nil {
		return 0, false, err
	}
	if b := clients.Bucket([]byte(client)); b != nil {
		if err := b.Delete(key); err != nil {
			return 0, false, err
		}
	}
	return size, true, nil
}

func dropOldest(order, clients *bolt.Bucket) (dropped, error) {
	k, v := order.Cursor().First()
	if k == nil {
		return dropped{}, errors.New("spool: accounting out of step with the file (no entry to drop)")
	}
	_, size, client, err := decodeIndex(v)
	if err != nil {
		return dropped{}, err
	}
	if _, _, err := deleteEntry(order, clients, client, binary.BigEndian.Uint64(k)); err != nil {
		return dropped{}, err
	}
	return dropped{client: client, size: int64(size)}, nil
}

// Expire discards messages older than MaxAge. Run calls it periodically.
func (s *Spool) Expire() error {
	if s.cfg.MaxAge <= 0 {
		return nil
	}
	cutoff := s.cfg.Now().Add(-s.cfg.MaxAge)
	var gone []dropped
	err := s.db.Update(func(tx *bolt.Tx) error {
		gone = gone[:0]
		order, clients := tx.Bucket(bucketOrder), tx.Bucket(bucketClients)
		for {
			k, v := order.Cursor().First()
			if k == nil {
				return nil
			}
			t, _, _, err := decodeIndex(v)
			if err != nil {
				return err
			}
			if !t.Before(cutoff) {
				return nil
			}
			d, err := dropOldest(order, clients)
			if err != nil {
				return err
			}
			gone = append(gone, d)
		}
	})
	if err != nil {
		return fmt.Errorf("spool: expire: %w", err)
	}
	s.mu.Lock()
	for _, d := range gone {
		s.account(d.client, -1, -d.size)
		s.stats.Expired++
	}
	s.mu.Unlock()
	if len(gone) > 0 {
		s.log.Warn().Int("expired", len(gone)).Dur("max_age", s.cfg.MaxAge).Msg("spool discarded expired messages")
	}
	return nil
}

// Next returns up to max of client's entries with Seq > after, oldest
// first.
func (s *Spool) Next(client string, after uint64, max int) ([]Entry, error) {
	var out []Entry
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketClients).Bucket([]byte(client))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(seqKey(after + 1)); k != nil && len(out) < max; k, v = c.Next() {
			m, err := decodeMessage(v)
			if err != nil {
				return fmt.Errorf("client %q seq %d: %w", client, binary.BigEndian.Uint64(k), err)
			}
			out = append(out, Entry{Seq: binary.BigEndian.Uint64(k), Client: client, Message: m})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("spool: read: %w", err)
	}
	return out, nil
}

// Clients returns the clients that have messages stored, sorted.
func (s *Spool) Clients() []string {
	s.mu.Lock()
	out := make([]string, 0, len(s.clients))
	for c := range s.clients {
		out = append(out, c)
	}
	s.mu.Unlock()
	slices.Sort(out)
	return out
}

// Len returns how many messages client has stored.
func (s *Spool) Len(client string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.clients[client]; c != nil {
		return c.count
	}
	return 0
}

// Stats returns a snapshot of the counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Path returns the database file.
func (s *Spool) Path() string { return s.cfg.Path }
