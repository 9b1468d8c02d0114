package renderer

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/allot-dev/allot/renderer/sources"
	"github.com/allot-dev/allot/schemas"
)

// Defaults for allot.yaml's policy.bundles. A development environment is
// its template (a namespace's baseline is six objects; a vcluster chart
// about forty, 0.3 MiB) and a few add-ons, each some dozens of objects of
// a few KiB: 2,000 objects and 8 MiB leave room for ten times that, while
// one render's objects stay a small part of the 512 MiB allot runs in
// (decoded objects take about ten times their JSON).
const (
	DefaultMaxBundleObjects       = 2000
	DefaultMaxBundleBytes   int64 = 8 << 20
)

// bundleBudget returns the limits of one bundle from allot.yaml's policy.
func bundleBudget(p schemas.BundlePolicy) (*sources.Budget, error) {
	b := &sources.Budget{MaxObjects: DefaultMaxBundleObjects, MaxBytes: DefaultMaxBundleBytes}
	if p.MaxObjects > 0 {
		b.MaxObjects = p.MaxObjects
	}
	if p.MaxBytes != "" {
		q, err := resource.ParseQuantity(p.MaxBytes)
		if err != nil || q.Sign() <= 0 {
			return nil, fmt.Errorf("allot.yaml: policy.bundles.maxBytes %q is not a size such as 8Mi", p.MaxBytes)
		}
		b.MaxBytes = q.Value()
	}
	return b, nil
}

// raiseHint tells how to raise the bundle limit an error reached.
func raiseHint(err error) error {
	var be *sources.BudgetError
	if !errors.As(err, &be) {
		return err
	}
	field := "maxBytes"
	if be.Objects {
		field = "maxObjects"
	}
	return fmt.Errorf("%w; make the source render less, or raise policy.bundles.%s in allot.yaml", err, field)
}
