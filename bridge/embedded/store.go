package embedded

import (
	"fmt"

	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/hooks/storage/bolt"
	bbolt "go.etcd.io/bbolt"

	"github.com/snbridge/snbridge/bridge/boltfile"
)

// StoreFormat is the format tag of the broker store this build reads and
// writes: mochi's bolt storage hook records (mochi-mqtt/server v2) in
// bucket "mochi", plus this tag in bucket "snbridge".
const StoreFormat = "snbridge-broker/1 mochi-bolt"

// mochiBucket is the bucket of mochi's bolt hook.
const mochiBucket = "mochi"

// storeFormat is the broker store's format tag, in bucket "snbridge",
// and the words of its errors.
var storeFormat = boltfile.Format{
	Tag:    StoreFormat,
	Kind:   "broker store",
	Fresh:  "to start with an empty broker store; retained messages and local MQTT clients' persistent sessions are then lost",
	Bucket: "snbridge",
	// An empty system-info record, so that mochi does not log an error
	// for a new file.
	Init: func(tx *bbolt.Tx) error {
		m, err := tx.CreateBucket([]byte(mochiBucket))
		if err != nil {
			return err
		}
		return m.Put([]byte(storage.SysInfoKey), []byte("{}"))
	},
}

// addStore checks the format tag of the broker store at path (writing it
// into a new file) and attaches mochi's bolt storage hook to the server,
// which keeps retained messages and the sessions, subscriptions and
// in-flight messages of local MQTT clients there.
func (b *Broker) addStore(path string) error {
	db, err := boltfile.Open(path, storeFormat, nil)
	if err != nil {
		return fmt.Errorf("embedded: open broker store %s: %w", path, err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("embedded: open broker store %s: %w", path, err)
	}
	err = b.srv.AddHook(new(bolt.Hook), &bolt.Options{
		Path:    path,
		Bucket:  mochiBucket,
		Options: &bbolt.Options{Timeout: boltfile.LockTimeout},
	})
	if err != nil {
		return fmt.Errorf("embedded: open broker store %s: %w", path, err)
	}
	return nil
}
