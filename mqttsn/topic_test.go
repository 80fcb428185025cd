package mqttsn

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateTopicName(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		want error
	}{
		{"simple", "sensors/t1", nil},
		{"one char", "a", nil},
		{"leading slash", "/a", nil},
		{"trailing slash", "a/", nil},
		{"only slash", "/", nil},
		{"empty levels", "a//b", nil},
		{"dollar", "$SYS/x", nil},
		{"space and unicode", "caf\u00e9 / \u6e29\u5ea6", nil},
		{"max length", strings.Repeat("a", MaxTopicLen), nil},
		{"empty", "", ErrTopicEmpty},
		{"too long", strings.Repeat("a", MaxTopicLen+1), ErrTopicTooLong},
		{"plus", "a/+", ErrTopicWildcard},
		{"hash", "#", ErrTopicWildcard},
		{"plus inside level", "a+b", ErrTopicWildcard},
		{"nul", "a\x00b", ErrTopicNUL},
		{"bad utf8", "a\xffb", ErrTopicUTF8},
		{"surrogate", "\xed\xa0\x80", ErrTopicUTF8},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidateTopicName(tt.in); !errors.Is(got, tt.want) {
				t.Errorf("ValidateTopicName(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestValidateTopicFilter(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		want error
	}{
		{"plain", "a/b", nil},
		{"hash alone", "#", nil},
		{"plus alone", "+", nil},
		{"trailing hash", "a/#", nil},
		{"plus levels", "+/b/+", nil},
		{"plus then hash", "+/#", nil},
		{"leading slash hash", "/#", nil},
		{"empty level plus", "a//+", nil},
		{"dollar", "$SYS/#", nil},
		{"empty", "", ErrTopicEmpty},
		{"too long", strings.Repeat("a", MaxTopicLen+1), ErrTopicTooLong},
		{"plus in level", "a+", ErrTopicBadFilter},
		{"plus in middle level", "a/b+/c", ErrTopicBadFilter},
		{"hash in level", "a#", ErrTopicBadFilter},
		{"hash not last", "a/#/b", ErrTopicBadFilter},
		{"hash then slash", "#/", ErrTopicBadFilter},
		{"double hash", "##", ErrTopicBadFilter},
		{"nul", "a/\x00", ErrTopicNUL},
		{"bad utf8", "\xc3", ErrTopicUTF8},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidateTopicFilter(tt.in); !errors.Is(got, tt.want) {
				t.Errorf("ValidateTopicFilter(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestIsWildcard(t *testing.T) {
	for in, want := range map[string]bool{
		"a/b": false, "": false, "+": true, "a/#": true, "a/+/c": true, "$SYS": false,
	} {
		if got := IsWildcard(in); got != want {
			t.Errorf("IsWildcard(%q) = %v, want %v", in, got, want)
		}
	}
}

var matchCases = []struct {
	filter, name string
	want         bool
}{
	{"a/b", "a/b", true},
	{"a/b", "a/c", false},
	{"a/b", "a/b/c", false},
	{"a/b/c", "a/b", false},
	{"a/b", "A/b", false},
	{"#", "a", true},
	{"#", "a/b/c", true},
	{"#", "/", true},
	{"a/#", "a", true}, // parent level [MQTT 3.1.1 §4.7.1.2]
	{"a/#", "a/", true},
	{"a/#", "a/b/c", true},
	{"a/#", "ab", false},
	{"a/#", "b/a", false},
	{"+", "a", true},
	{"+", "a/b", false},
	{"+", "/a", false},
	{"+/+", "/a", true}, // + matches an empty level
	{"/+", "/a", true},
	{"a/+", "a", false},
	{"a/+", "a/", true},
	{"a/+", "a/b", true},
	{"a/+", "a/b/c", false},
	{"a/+/c", "a/b/c", true},
	{"a/+/c", "a/b/d", false},
	{"+/b/#", "a/b", true},
	{"+/b/#", "x/b/c/d", true},
	{"+/+/#", "a", false},
	{"a//b", "a//b", true},
	{"a/+/b", "a//b", true},
	{"#", "$SYS/x", false}, // [MQTT 3.1.1 §4.7.2]
	{"+/x", "$SYS/x", false},
	{"+", "$SYS", false},
	{"$SYS/#", "$SYS/x", true},
	{"$SYS/+", "$SYS/x", true},
	{"a/$SYS", "a/$SYS", true},
	{"+/$x", "a/$x", true},
	{"", "a", false},
	{"a", "", false},
	// invalid filters never panic and do not match across levels
	{"a/#/b", "a/x/b", false},
	{"a+", "ab", false},
}

func TestMatchTopic(t *testing.T) {
	for _, tt := range matchCases {
		if got := MatchTopic(tt.filter, tt.name); got != tt.want {
			t.Errorf("MatchTopic(%q, %q) = %v, want %v", tt.filter, tt.name, got, tt.want)
		}
		if tt.filter != "" && tt.name != "" && ValidateTopicFilter(tt.filter) == nil && ValidateTopicName(tt.name) == nil {
			if ref := refMatch(tt.filter, tt.name); ref != tt.want {
				t.Errorf("refMatch(%q, %q) = %v, table says %v", tt.filter, tt.name, ref, tt.want)
			}
		}
	}
}

func TestMatchTopicAllocs(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		for _, tt := range matchCases {
			MatchTopic(tt.filter, tt.name)
		}
	})
	if allocs != 0 {
		t.Errorf("MatchTopic allocates %v times per run, want 0", allocs)
	}
}

func TestShortTopic(t *testing.T) {
	for _, tt := range []struct {
		name string
		id   uint16
		ok   bool
	}{
		{"ab", 0x6162, true},
		{"t1", 0x7431, true},
		{"\x00\xff", 0x00ff, true},
		{"a", 0, false},
		{"abc", 0, false},
		{"", 0, false},
	} {
		id, ok := ShortTopicID(tt.name)
		if id != tt.id || ok != tt.ok {
			t.Errorf("ShortTopicID(%q) = %#04x, %v; want %#04x, %v", tt.name, id, ok, tt.id, tt.ok)
		}
		if ok {
			if back := ShortTopicName(id); back != tt.name {
				t.Errorf("ShortTopicName(%#04x) = %q, want %q", id, back, tt.name)
			}
		}
	}
}

// refMatch is a straightforward, allocating reference for MatchTopic on
// valid input.
func refMatch(filter, name string) bool {
	if strings.HasPrefix(name, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	fs, ns := strings.Split(filter, "/"), strings.Split(name, "/")
	for i, f := range fs {
		if f == "#" {
			return true
		}
		if i >= len(ns) {
			return false
		}
		if f != "+" && f != ns[i] {
			return false
		}
	}
	return len(fs) == len(ns)
}

func FuzzTopicFilter(f *testing.F) {
	for _, tt := range matchCases {
		f.Add(tt.filter, tt.name)
	}
	f.Fuzz(func(t *testing.T, filter, name string) {
		// Long inputs add nothing the unit tests do not cover (ErrTopicTooLong)
		// and make the fuzzer spend its time minimizing them.
		if len(filter) > 512 || len(name) > 512 {
			return
		}
		ferr := ValidateTopicFilter(filter)
		nerr := ValidateTopicName(name)
		got := MatchTopic(filter, name)
		if nerr == nil && IsWildcard(name) {
			t.Fatalf("valid name %q has a wildcard", name)
		}
		if nerr == nil && ValidateTopicFilter(name) != nil {
			t.Fatalf("valid name %q is not a valid filter: %v", name, ValidateTopicFilter(name))
		}
		if ferr != nil || nerr != nil {
			return
		}
		if want := refMatch(filter, name); got != want {
			t.Fatalf("MatchTopic(%q, %q) = %v, reference says %v", filter, name, got, want)
		}
		if !IsWildcard(filter) && got != (filter == name) {
			t.Fatalf("MatchTopic(%q, %q) = %v for a filter without wildcards", filter, name, got)
		}
		if id, ok := ShortTopicID(name); ok && ShortTopicName(id) != name {
			t.Fatalf("short topic %q does not round-trip", name)
		}
	})
}
