package reconciler

import (
	"cmp"
	"maps"
	"slices"
	"time"
)

// Expiry is when one environment on one cluster expires, as its record
// says, for the notices on the pull request that created it.
type Expiry struct {
	Environment string
	// File is the request's path in the repository.
	File    string
	Cluster string
	// Expires is when the environment is torn down.
	Expires time.Time
	// Origin is the commit that first brought the environment to the
	// cluster (Record.Origin), or its last applied commit for records
	// older than that field.
	Origin string
	// Gone is set when the pass tore the environment down because it
	// expired.
	Gone bool
}

// Expiries lists the environments of the pass that have an expiry, from
// their records as the pass left them, with those it tore down because
// they expired marked Gone; sorted by environment and cluster.
func (p *PassResult) Expiries() []Expiry {
	var out []Expiry
	for _, c := range p.Clusters {
		expired := map[string]bool{}
		records := maps.Clone(c.records)
		for _, e := range c.Environments {
			if e.Expired {
				expired[e.Environment] = true
			}
			if e.record != nil && !e.Expired {
				// What the pass applied, new environments included.
				records[e.Environment] = e.record
			}
		}
		for name, rec := range records {
			at := rec.expiresAt()
			if at.IsZero() {
				continue
			}
			out = append(out, Expiry{
				Environment: name, File: rec.File, Cluster: c.Name, Expires: at,
				Origin: cmp.Or(rec.Origin, rec.Commit), Gone: expired[name],
			})
		}
	}
	slices.SortFunc(out, func(a, b Expiry) int {
		return cmp.Or(cmp.Compare(a.Environment, b.Environment), cmp.Compare(a.Cluster, b.Cluster))
	})
	return out
}
