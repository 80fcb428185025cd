package bridge

import (
	"errors"
	"fmt"

	"github.com/snbridge/snbridge/mqttsn"
)

// predefTable is the predefined topic ids that apply to one client (or to
// every client): it implements session.Predefined. Tables are built by New
// and never modified, so sessions may share them. [MQTT-SN 1.2 §6.7]
type predefTable struct {
	byID   map[uint16]string
	byName map[string]uint16
}

func newPredefTable() *predefTable {
	return &predefTable{byID: map[uint16]string{}, byName: map[string]uint16{}}
}

// Topic returns the topic name of the predefined id.
func (t *predefTable) Topic(id uint16) (string, bool) {
	name, ok := t.byID[id]
	return name, ok
}

// ID returns the predefined id of the topic name.
func (t *predefTable) ID(name string) (uint16, bool) {
	id, ok := t.byName[name]
	return id, ok
}

func (t *predefTable) add(id uint16, name string) {
	t.byID[id] = name
	t.byName[name] = id
}

// buildPredefined checks the entries and returns the global table and, for
// each client with entries of its own, its table (global entries plus its
// own; its own win on a clash).
func buildPredefined(entries []PredefinedTopic) (*predefTable, map[string]*predefTable, error) {
	var errs []error
	global := newPredefTable()
	own := map[string][]PredefinedTopic{}
	seen := map[string]map[uint16]bool{}
	for i, e := range entries {
		if e.ID == mqttsn.TopicIDReserved0 || e.ID == mqttsn.TopicIDReservedMax {
			errs = append(errs, fmt.Errorf("bridge: predefined[%d]: topic id 0x%04X is reserved", i, e.ID))
			continue
		}
		if err := mqttsn.ValidateTopicName(e.Topic); err != nil {
			errs = append(errs, fmt.Errorf("bridge: predefined[%d]: topic %q: %w", i, e.Topic, err))
			continue
		}
		if seen[e.ClientID] == nil {
			seen[e.ClientID] = map[uint16]bool{}
		}
		if seen[e.ClientID][e.ID] {
			errs = append(errs, fmt.Errorf("bridge: predefined[%d]: duplicate topic id %d for client %q", i, e.ID, e.ClientID))
			continue
		}
		seen[e.ClientID][e.ID] = true
		if e.ClientID == "" {
			global.add(e.ID, e.Topic)
		} else {
			own[e.ClientID] = append(own[e.ClientID], e)
		}
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	perClient := make(map[string]*predefTable, len(own))
	for cid, list := range own {
		t := newPredefTable()
		for id, name := range global.byID {
			t.add(id, name)
		}
		for _, e := range list {
			if old, ok := t.byID[e.ID]; ok {
				delete(t.byName, old)
			}
			t.add(e.ID, e.Topic)
		}
		perClient[cid] = t
	}
	return global, perClient, nil
}

// predefFor returns the table of the client with the given ClientId.
func (g *Gateway) predefFor(clientID string) *predefTable {
	if t, ok := g.perClient[clientID]; ok {
		return t
	}
	return g.global
}
