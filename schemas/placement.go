package schemas

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Selector converts the LabelSelector into a labels.Selector.
func (s LabelSelector) Selector() (labels.Selector, error) {
	ls := &metav1.LabelSelector{MatchLabels: s.MatchLabels}
	for _, e := range s.MatchExpressions {
		ls.MatchExpressions = append(ls.MatchExpressions, metav1.LabelSelectorRequirement{
			Key: e.Key, Operator: metav1.LabelSelectorOperator(e.Operator), Values: e.Values,
		})
	}
	return metav1.LabelSelectorAsSelector(ls)
}

// Place returns the clusters an environment goes to: the cluster it names, or
// every cluster its placement selects, in allot.yaml order, in both cases only
// those its template's clusterSelector accepts. tmpl may be nil.
func Place(p *PlatformSpec, env *EnvironmentSpec, tmpl *TemplateSpec) ([]Cluster, error) {
	accept := labels.Everything()
	if tmpl != nil && tmpl.ClusterSelector != nil {
		sel, err := tmpl.ClusterSelector.Selector()
		if err != nil {
			return nil, err
		}
		accept = sel
	}
	want := labels.Nothing()
	if env.Placement != nil {
		sel, err := env.Placement.ClusterSelector.Selector()
		if err != nil {
			return nil, err
		}
		want = sel
	}
	var out []Cluster
	for _, c := range p.Clusters {
		set := labels.Set(c.Labels)
		if (c.Name == env.Cluster || want.Matches(set)) && accept.Matches(set) {
			out = append(out, c)
		}
	}
	return out, nil
}
