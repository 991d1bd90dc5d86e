package snapshot

import (
	"fmt"
	"slices"
	"strings"
)

// GroupKey is what the snapshots of a group share (forget, snapshots
// --group-by); a field left out of the grouping is empty.
type GroupKey struct {
	Hostname string   `json:"hostname,omitempty"`
	Paths    []string `json:"paths,omitempty"`
	Tags     []string `json:"tags,omitempty"`
}

func (k GroupKey) String() string {
	var parts []string
	if k.Hostname != "" {
		parts = append(parts, "host ["+k.Hostname+"]")
	}
	if k.Paths != nil {
		parts = append(parts, "paths ["+strings.Join(k.Paths, ", ")+"]")
	}
	if k.Tags != nil {
		parts = append(parts, "tags ["+strings.Join(k.Tags, ", ")+"]")
	}
	return strings.Join(parts, ", ")
}

// Group is snapshots sharing a key, in the order given.
type Group struct {
	Key       GroupKey
	Snapshots []*Snapshot
}

// GroupBy groups sns by the fields in by ("host", "paths", "tags"; none:
// one group), groups in the order their first snapshot comes.
func GroupBy(sns []*Snapshot, by []string) ([]Group, error) {
	var groups []Group
	index := map[string]int{}
	for _, sn := range sns {
		var k GroupKey
		for _, f := range by {
			switch f {
			case "host":
				k.Hostname = sn.Hostname
			case "paths":
				k.Paths = slices.Sorted(slices.Values(sn.Paths))
			case "tags":
				k.Tags = slices.Sorted(slices.Values(sn.Tags))
				if k.Tags == nil {
					k.Tags = []string{}
				}
			case "":
			default:
				return nil, fmt.Errorf("invalid --group-by field %q: want host, paths or tags", f)
			}
		}
		ks := fmt.Sprintf("%q", k)
		i, ok := index[ks]
		if !ok {
			i = len(groups)
			index[ks] = i
			groups = append(groups, Group{Key: k})
		}
		groups[i].Snapshots = append(groups[i].Snapshots, sn)
	}
	return groups, nil
}
