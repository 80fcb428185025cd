package mqttsn

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Topic rules are those of MQTT 3.1.1 §4.7, which MQTT-SN topic names
// follow; short topic names are MQTT-SN's own. [MQTT-SN 1.2 §6.7]

// MaxTopicLen is the longest topic name or filter MQTT allows, in octets.
// [MQTT 3.1.1 §4.7.3]
const MaxTopicLen = 65535

// Topic validation errors. They are returned as is (not wrapped) by
// [ValidateTopicName] and [ValidateTopicFilter] so that callers can
// compare them with errors.Is.
var (
	ErrTopicEmpty     = errors.New("mqttsn: empty topic")
	ErrTopicTooLong   = errors.New("mqttsn: topic longer than 65535 octets")
	ErrTopicUTF8      = errors.New("mqttsn: topic is not valid UTF-8")
	ErrTopicNUL       = errors.New("mqttsn: topic contains U+0000")
	ErrTopicWildcard  = errors.New("mqttsn: wildcard in topic name")
	ErrTopicBadFilter = errors.New("mqttsn: wildcard must occupy a whole level, # only the last")
)

// ValidateTopicName reports whether name may be published to: non-empty,
// at most 65535 octets of valid UTF-8, no U+0000 and no wildcard
// character + or #. [MQTT 3.1.1 §4.7.1, §4.7.3]
func ValidateTopicName(name string) error {
	if err := validateTopicCommon(name); err != nil {
		return err
	}
	if strings.IndexByte(name, '+') >= 0 || strings.IndexByte(name, '#') >= 0 {
		return ErrTopicWildcard
	}
	return nil
}

// ValidateTopicFilter reports whether filter may be subscribed to: the
// rules of [ValidateTopicName], except that + may occupy a whole level and
// # may occupy the whole last level ("#", "a/#", "+/b/+" are valid;
// "a+", "a/#/b", "a#" are not). [MQTT 3.1.1 §4.7.1]
func ValidateTopicFilter(filter string) error {
	if err := validateTopicCommon(filter); err != nil {
		return err
	}
	rest := filter
	for {
		level, next, more := strings.Cut(rest, "/")
		if len(level) > 1 && strings.ContainsAny(level, "+#") {
			return ErrTopicBadFilter
		}
		if level == "#" && more {
			return ErrTopicBadFilter
		}
		if !more {
			return nil
		}
		rest = next
	}
}

func validateTopicCommon(s string) error {
	switch {
	case s == "":
		return ErrTopicEmpty
	case len(s) > MaxTopicLen:
		return ErrTopicTooLong
	case strings.IndexByte(s, 0) >= 0:
		return ErrTopicNUL
	case !utf8.ValidString(s):
		return ErrTopicUTF8
	}
	return nil
}

// IsWildcard reports whether filter contains a wildcard character (+ or
// #). A subscription to such a filter gets topic id 0x0000 in its SUBACK.
// [MQTT-SN 1.2 §6.9]
func IsWildcard(filter string) bool {
	return strings.ContainsAny(filter, "+#")
}

// MatchTopic reports whether the topic name matches the topic filter, by
// the rules of MQTT 3.1.1 §4.7: + matches exactly one level (possibly
// empty), # matches the rest of the name including the parent level
// ("a/#" matches "a"), and a name starting with '$' is not matched by a
// filter whose first level is a wildcard. [MQTT 3.1.1 §4.7.2]
//
// Both arguments are expected to be valid (see [ValidateTopicFilter] and
// [ValidateTopicName]); for invalid input the result is false or
// unspecified, never a panic. MatchTopic does not allocate.
func MatchTopic(filter, name string) bool {
	if filter == "" || name == "" {
		return false
	}
	if name[0] == '$' && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return !fmore
		}
		nl, nrest, nmore := strings.Cut(name, "/")
		if fl != "+" && fl != nl {
			return false
		}
		switch {
		case !fmore:
			return !nmore
		case !nmore:
			// "a/#" matches "a": only a lone # may follow.
			return frest == "#"
		}
		filter, name = frest, nrest
	}
}

// ShortTopicID returns the short topic id of a two-character topic name:
// the first octet of name in the high octet, the second in the low one.
// ok is false unless name is exactly two octets long; the characters are
// not otherwise checked (use [ValidateTopicName] for a PUBLISH topic).
// [MQTT-SN 1.2 §3 "short topic names", §6.7]
func ShortTopicID(name string) (id uint16, ok bool) {
	if len(name) != 2 {
		return 0, false
	}
	return uint16(name[0])<<8 | uint16(name[1]), true
}

// ShortTopicName returns the two-character topic name of a short topic id,
// the inverse of [ShortTopicID].
func ShortTopicName(id uint16) string {
	return string([]byte{byte(id >> 8), byte(id)})
}
