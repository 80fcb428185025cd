package embedded

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// StoreFormat is the format tag of the broker store this build reads and
// writes: mochi's bolt storage hook records (mochi-mqtt/server v2) in
// bucket "mochi", plus this tag in bucket "snbridge".
const StoreFormat = "snbridge-broker/1 mochi-bolt"

// mochiBucket is the bucket of mochi's bolt hook.
const mochiBucket = "mochi"

var (
	storeMetaBucket = []byte("snbridge")
	storeFormatKey  = []byte("format")
)

const storeAdvice = "move it away to start with an empty broker store (retained messages and local MQTT clients' persistent sessions are then lost)"

// addStore checks the format tag of the broker store at path (writing it
// into a new file) and attaches mochi's bolt storage hook to the server,
// which keeps retained messages and the sessions, subscriptions and
// in-flight messages of local MQTT clients there.
func (b *Broker) addStore(path string) error {
	if err := checkStore(path); err != nil {
		return err
	}
	err := b.srv.AddHook(new(bolt.Hook), &bolt.Options{
		Path:    path,
		Bucket:  mochiBucket,
		Options: &bbolt.Options{Timeout: time.Second},
	})
	if err != nil {
		return fmt.Errorf("embedded: open broker store %s: %w", path, err)
	}
	return nil
}

// checkStore opens path with bbolt (creating it) and checks the tag.
func checkStore(path string) error {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return fmt.Errorf("embedded: open broker store %s: file is locked by another process (is another snbridge running with the same data_dir?)", path)
		}
		return fmt.Errorf("embedded: open broker store %s: %w (the file is damaged or not a broker store: %s)", path, err, storeAdvice)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		meta := tx.Bucket(storeMetaBucket)
		if meta == nil {
			empty := true
			_ = tx.ForEach(func([]byte, *bbolt.Bucket) error { empty = false; return nil })
			if !empty {
				return fmt.Errorf("no format tag: not a snbridge broker store (another program's bbolt file?); point data_dir elsewhere or %s", storeAdvice)
			}
			if meta, err = tx.CreateBucket(storeMetaBucket); err != nil {
				return err
			}
			if err := meta.Put(storeFormatKey, []byte(StoreFormat)); err != nil {
				return err
			}
			// An empty system-info record, so that mochi does not log an
			// error for a new file.
			m, err := tx.CreateBucket([]byte(mochiBucket))
			if err != nil {
				return err
			}
			if err := m.Put([]byte(storage.SysInfoKey), []byte("{}")); err != nil {
				return err
			}
		}
		if got := meta.Get(storeFormatKey); !bytes.Equal(got, []byte(StoreFormat)) {
			return fmt.Errorf("format %q, this build reads %q: run the snbridge version that wrote it, or %s", got, StoreFormat, storeAdvice)
		}
		return nil
	})
	if cerr := db.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("embedded: open broker store %s: %w", path, err)
	}
	return nil
}
