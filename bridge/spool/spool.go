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
	// ExpireEvery is how often Run discards messages older than MaxAge
	// (they are also discarded at Open). 0 means once a minute.
	ExpireEvery time.Duration
	// MaxFileBytes caps the database file itself (0 = no cap): a guard
	// against filling a shared disk. Reaching it is handled exactly like a
	// full disk. It should be well above MaxBytes (bbolt files keep freed
	// pages for reuse and do not shrink).
	MaxFileBytes int64
}

// entryOverhead approximates what bbolt stores per entry beyond the record
// and index bytes: two leaf elements (16-octet headers) with 8-octet keys.
const entryOverhead = 2 * (16 + 8)

// entryCost is what one entry counts against MaxBytes: its encoded record,
// its index record and bbolt's per-entry overhead, so that the bound
// follows the space the spool takes on disk, not just the payloads.
func entryCost(recordLen int, client string) int64 {
	return int64(recordLen + 12 + len(client) + entryOverhead)
}

// appendFill packs pages of the append-only buckets (keys only ever grow),
// instead of bbolt's default half-full splits.
const appendFill = 0.95

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
	cfg   Config
	db    *bolt.DB
	reqs  chan request
	log   zerolog.Logger
	noisy zerolog.Logger // sampled, for warnings that repeat per batch

	// sendMu orders requests against shutdown: senders hold it shared
	// while they check closed and queue; shutdown takes it exclusively to
	// set closed, so that no request is queued after the final drain.
	sendMu sync.RWMutex
	closed bool // guarded by sendMu

	mu       sync.Mutex
	clients  map[string]*clientState
	stats    Stats
	nextSeq  uint64
	diskFull bool // the last write failed for lack of space
	// limit is the byte bound in force: MaxBytes, or under DropOldest after
	// a full disk, 85% of what the spool held then, so that bbolt keeps free
	// pages for copy-on-write (at a full file even a delete can fail). It
	// stays lowered until the gateway restarts.
	limit int64
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
	if cfg.ExpireEvery <= 0 {
		cfg.ExpireEvery = time.Minute
	}
	db, err := boltfile.Open(cfg.Path, fileFormat, &bolt.Options{
		FreelistType: bolt.FreelistMapType,
		MaxSize:      int(cfg.MaxFileBytes),
	})
	if err != nil {
		return nil, fmt.Errorf("spool: open %s: %w", cfg.Path, err)
	}
	s := &Spool{
		cfg:     cfg,
		db:      db,
		reqs:    make(chan request, 4096),
		log:     cfg.Logger.With().Str("component", "bridge/spool").Logger(),
		noisy:   cfg.Logger.With().Str("component", "bridge/spool").Logger().Sample(&zerolog.BurstSampler{Burst: 1, Period: 10 * time.Second}),
		clients: make(map[string]*clientState),
		nextSeq: 1,
		limit:   cfg.MaxBytes,
	}
	if err := s.load(); err != nil {
		db.Close()
		return nil, fmt.Errorf("spool: open %s: %w", cfg.Path, err)
	}
	// Messages that aged out while the gateway was stopped go now, not at
	// the first tick of Run.
	if err := s.Expire(); err != nil {
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
			s.account(client, 1, entryCost(size, client))
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
	s.sendMu.RLock()
	defer s.sendMu.RUnlock()
	if s.closed {
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
// discards expired messages every Config.ExpireEvery, until ctx is
// cancelled. Then it fails the requests still queued with ErrClosed and
// returns nil.
func (s *Spool) Run(ctx context.Context) error {
	tick := time.NewTicker(s.cfg.ExpireEvery)
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

// shutdown marks the spool closed and fails every queued request. It keeps
// draining while it waits for senders to let go of sendMu: a sender may be
// blocked on a full queue.
func (s *Spool) shutdown() {
	locked := make(chan struct{})
	go func() {
		s.sendMu.Lock()
		s.closed = true
		s.sendMu.Unlock()
		close(locked)
	}()
	for {
		select {
		case r := <-s.reqs:
			r.fail(ErrClosed)
		case <-locked:
			for {
				select {
				case r := <-s.reqs:
					r.fail(ErrClosed)
				default:
					return
				}
			}
		}
	}
}

// Close closes the database file. Call it after Run returned.
func (s *Spool) Close() error {
	s.sendMu.Lock()
	s.closed = true
	s.sendMu.Unlock()
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
// Under DropOldest a full disk is met like a full spool: the oldest
// messages make room and the batch is written again.
func (s *Spool) commit(batch []request) {
	outcomes, drops, err := s.write(batch)
	for try := 0; try < 3 && err != nil && isDiskFull(err) && s.cfg.Overflow == DropOldest; try++ {
		s.lowerLimit()
		if s.makeRoom() == 0 {
			break
		}
		outcomes, drops, err = s.write(batch)
	}
	if err != nil {
		s.failBatch(batch, err)
		return
	}
	s.noteDiskFull(false, nil)
	s.apply(batch, outcomes, drops)
}

// write tries a batch in one transaction; nothing of it is applied to the
// in-memory index.
func (s *Spool) write(batch []request) ([]outcome, []dropped, error) {
	s.mu.Lock()
	seq := s.nextSeq
	total := s.stats.Bytes
	limit := s.limit
	s.mu.Unlock()

	outcomes := make([]outcome, len(batch))
	var drops []dropped
	err := s.db.Update(func(tx *bolt.Tx) error {
		drops = drops[:0]
		order := tx.Bucket(bucketOrder)
		order.FillPercent = appendFill
		clients := tx.Bucket(bucketClients)
		t := total
		sq := seq
		for i := range batch {
			r := &batch[i]
			o := &outcomes[i]
			*o = outcome{}
			if !r.append {
				cost, found, err := deleteEntry(order, clients, r.client, r.seq)
				if err != nil {
					return err
				}
				o.removed, o.size = found, cost
				t -= cost
				continue
			}
			cost := entryCost(len(r.record), r.client)
			if cost > s.cfg.MaxBytes {
				o.err = fmt.Errorf("%w: message of %d bytes exceeds spool_max_bytes", ErrFull, cost)
				continue
			}
			for t+cost > limit {
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
			b.FillPercent = appendFill
			key := seqKey(sq)
			if err := b.Put(key, r.record); err != nil {
				return err
			}
			if err := order.Put(key, encodeIndex(r.msgTime, len(r.record), r.client)); err != nil {
				return err
			}
			o.entry = Entry{Seq: sq, Client: r.client}
			o.size = cost
			t += cost
			sq++
		}
		return nil
	})
	return outcomes, drops, err
}

func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, bolterrors.ErrMaxSizeReached)
}

// lowerLimit sets the bound in force to 85% of what the spool holds: a
// full disk under DropOldest.
func (s *Spool) lowerLimit() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.stats.Bytes * 85 / 100; l < s.limit {
		s.limit = l
		s.log.Warn().Int64("limit_bytes", l).Msg("spool disk full: keeping the spool smaller until restart")
	}
}

// makeRoom discards the oldest messages until the spool is within the
// bound in force, freeing pages in the file for a batch that met a full
// disk. It returns how many it discarded; deleting needs a write too, so on
// a disk that is completely full it may free nothing.
func (s *Spool) makeRoom() int {
	s.mu.Lock()
	excess := s.stats.Bytes - s.limit
	s.mu.Unlock()
	var gone []dropped
	err := s.db.Update(func(tx *bolt.Tx) error {
		gone = gone[:0]
		order, clients := tx.Bucket(bucketOrder), tx.Bucket(bucketClients)
		for freed := int64(0); freed < excess; {
			if k, _ := order.Cursor().First(); k == nil {
				return nil
			}
			d, err := dropOldest(order, clients)
			if err != nil {
				return err
			}
			gone = append(gone, d)
			freed += d.size
		}
		return nil
	})
	if err != nil {
		return 0
	}
	s.mu.Lock()
	for _, d := range gone {
		s.account(d.client, -1, -d.size)
		s.stats.Dropped++
	}
	s.mu.Unlock()
	if len(gone) > 0 {
		s.noisy.Warn().Int("dropped", len(gone)).Msg("spool disk full: dropped oldest messages to make room")
	}
	return len(gone)
}

// noteDiskFull logs the start (error) and end (info) of a run of writes
// refused for lack of space, once each rather than per batch.
func (s *Spool) noteDiskFull(full bool, err error) {
	s.mu.Lock()
	was := s.diskFull
	s.diskFull = full
	s.mu.Unlock()
	switch {
	case full && !was:
		s.log.Error().Err(err).Msg("spool disk full: refusing messages until space is freed")
	case !full && was:
		s.log.Info().Msg("spool disk has room again")
	}
}

// failBatch answers every request of a batch whose transaction failed. A
// full disk or file is reported as ErrFull so that the sensor gets
// congestion, as for a full spool.
func (s *Spool) failBatch(batch []request, err error) {
	if isDiskFull(err) {
		s.noteDiskFull(true, err)
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

// deleteEntry deletes one entry and returns what it counted against
// MaxBytes.
func deleteEntry(order, clients *bolt.Bucket, client string, seq uint64) (cost int64, found bool, err error) {
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
	return entryCost(size, owner), true, nil
}

func dropOldest(order, clients *bolt.Bucket) (dropped, error) {
	k, v := order.Cursor().First()
	if k == nil {
		return dropped{}, errors.New("spool: accounting out of step with the file (no entry to drop)")
	}
	_, _, client, err := decodeIndex(v)
	if err != nil {
		return dropped{}, err
	}
	cost, _, err := deleteEntry(order, clients, client, binary.BigEndian.Uint64(k))
	if err != nil {
		return dropped{}, err
	}
	return dropped{client: client, size: cost}, nil
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
