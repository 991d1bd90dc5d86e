package job

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cairn-backup/cairn/repo/checker"
)

// ParseSubset sets o's share of packs read from s: n/m, P% or a size.
func ParseSubset(s string, o *checker.Options) error {
	bad := fmt.Errorf("invalid --read-data-subset %q: want n/m (e.g. 3/30), P%% (e.g. 5%%) or a size (e.g. 10G)", s)
	switch {
	case strings.Contains(s, "/"):
		a, b, _ := strings.Cut(s, "/")
		n, err1 := strconv.Atoi(a)
		m, err2 := strconv.Atoi(b)
		if err1 != nil || err2 != nil || m < 1 || n < 1 || n > m {
			return bad
		}
		o.Part, o.Of = n, m
	case strings.HasSuffix(s, "%"):
		p, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil || p <= 0 || p > 100 {
			return bad
		}
		o.Fraction = p / 100
	default:
		n, err := ParseSize(s)
		if err != nil || n <= 0 {
			return bad
		}
		o.Bytes = n
	}
	return nil
}
