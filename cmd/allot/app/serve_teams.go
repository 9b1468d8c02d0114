package app

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/allot-dev/allot/reconciler"
)

// teamMetrics are what each team's environments reserve and cost, from
// the commit the last pass read.
type teamMetrics struct {
	environments *prometheus.GaugeVec
	reserved     *prometheus.GaugeVec
	budget       *prometheus.GaugeVec
	cost         *prometheus.GaugeVec
}

func newTeamMetrics(reg prometheus.Registerer) *teamMetrics {
	m := &teamMetrics{
		environments: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "allot_team_environments", Help: "Environments per team."}, []string{"team"}),
		reserved:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "allot_team_reserved", Help: "What a team's environments reserve: the sum of their sizes' quotas over the clusters each is placed on, per resource (cores for cpu, bytes for memory)."}, []string{"team", "resource"}),
		budget:       prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "allot_team_budget", Help: "A team's budget per resource (policy.budgets), and per \"environments\" its most environments."}, []string{"team", "resource"}),
		cost:         prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "allot_team_cost_monthly", Help: "A team's estimated monthly cost from allot.yaml's prices, sleeping hours free."}, []string{"team", "currency"}),
	}
	reg.MustRegister(m.environments, m.reserved, m.budget, m.cost)
	return m
}

// record sets the gauges from a pass; a pass that read no commit leaves
// them as they were.
func (m *teamMetrics) record(res *reconciler.PassResult) {
	if res.Teams == nil {
		return
	}
	m.environments.Reset()
	m.reserved.Reset()
	m.budget.Reset()
	m.cost.Reset()
	for name, t := range res.Teams {
		m.environments.WithLabelValues(name).Set(float64(len(t.Files)))
		for k, q := range t.Resources {
			m.reserved.WithLabelValues(name, string(k)).Set(q.AsApproximateFloat64())
		}
		if t.Budget != nil {
			if t.Budget.Environments > 0 {
				m.budget.WithLabelValues(name, "environments").Set(float64(t.Budget.Environments))
			}
			for k, q := range t.Caps {
				m.budget.WithLabelValues(name, string(k)).Set(q.AsApproximateFloat64())
			}
		}
		if t.Currency != "" {
			m.cost.WithLabelValues(name, t.Currency).Set(t.Monthly)
		}
	}
}
