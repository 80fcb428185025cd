package session

import "github.com/snbridge/snbridge/mqttsn"

// registry is one client's table of normal topic ids, shared by both
// directions: ids the client asked for with REGISTER, ids the gateway
// assigned in a SUBACK and ids the gateway announced with its own
// REGISTER. [MQTT-SN 1.2 §6.5, §7.3: the table is per client]
//
// Ids are never 0x0000 or 0xFFFF [MQTT-SN 1.2 §5.3.11] and never one of
// the client's predefined ids, so that a client that ignores the
// TopicIdType flag cannot confuse the two.
type registry struct {
	byName map[string]uint16
	byID   map[uint16]string
	next   uint16 // last id handed out; the search for a free id starts after it
}

func (r *registry) len() int { return len(r.byName) }

// lookup returns the id of name. The []byte-keyed form does not allocate.
func (r *registry) lookup(name []byte) (uint16, bool) {
	id, ok := r.byName[string(name)]
	return id, ok
}

func (r *registry) lookupString(name string) (uint16, bool) {
	id, ok := r.byName[name]
	return id, ok
}

func (r *registry) topic(id uint16) (string, bool) {
	name, ok := r.byID[id]
	return name, ok
}

// add registers name under a fresh id and returns it. The caller checks
// the MaxTopics limit first; add fails only when all 65533 usable ids are
// taken (by the registry or the predefined table).
func (r *registry) add(name string, pre Predefined) (uint16, bool) {
	if r.byName == nil {
		r.byName = make(map[string]uint16)
		r.byID = make(map[uint16]string)
	}
	for range 0x10000 {
		r.next++
		id := r.next
		if id == mqttsn.TopicIDReserved0 || id == mqttsn.TopicIDReservedMax {
			continue
		}
		if _, used := r.byID[id]; used {
			continue
		}
		if pre != nil {
			if _, isPre := pre.Topic(id); isPre {
				continue
			}
		}
		r.byName[name] = id
		r.byID[id] = name
		return id, true
	}
	return 0, false
}

// insert puts a known mapping back (used by Restore).
func (r *registry) insert(name string, id uint16) {
	if r.byName == nil {
		r.byName = make(map[string]uint16)
		r.byID = make(map[uint16]string)
	}
	r.byName[name] = id
	r.byID[id] = name
	if id > r.next {
		r.next = id
	}
}

// removeID forgets the mapping of id, if any, and returns its name.
func (r *registry) removeID(id uint16) (string, bool) {
	name, ok := r.byID[id]
	if ok {
		delete(r.byID, id)
		delete(r.byName, name)
	}
	return name, ok
}

func (r *registry) clear() {
	clear(r.byName)
	clear(r.byID)
	r.next = 0
}
