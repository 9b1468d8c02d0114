package sources

import (
	"fmt"
	"slices"
)

// Budget bounds the objects and bytes the sources of one bundle may
// produce. Sources charge it as they decode, document by document, so a
// source that would produce too much fails before it fills memory. One
// Budget is shared by the sources of a bundle, which render one after the
// other; a nil *Budget is unlimited.
type Budget struct {
	// MaxObjects is the most objects; 0 means no limit.
	MaxObjects int
	// MaxBytes is the most bytes, counted as the objects' JSON; 0 means no limit.
	MaxBytes int64

	objects int
	bytes   int64
	nodes   int
	// warnings are what the sources that render into the budget's bundle
	// warned of, such as deprecated kustomization fields.
	warnings []Warning
}

// Warning is something a source renders despite, such as a deprecated
// field of a kustomization, in the file that has it.
type Warning struct {
	File    string `json:"file"`
	Message string `json:"message"`
}

// warn notes a warning of a source that renders into the budget's bundle;
// a nil Budget drops it.
func (b *Budget) warn(w Warning) {
	if b != nil && !slices.Contains(b.warnings, w) {
		b.warnings = append(b.warnings, w)
	}
}

// Warnings are the warnings of the sources that rendered into the budget's
// bundle, in the order they were found.
func (b *Budget) Warnings() []Warning {
	if b == nil {
		return nil
	}
	return slices.Clone(b.warnings)
}

// NodesPerObject is how many YAML nodes (keys, values, items) a Budget
// allows per object it may hold, on average. Decoding costs time and
// memory by the node, and YAML such as [1,1,1,...] has a node every two
// bytes: this bounds what the byte limit alone would not. A Deployment is
// about a hundred nodes.
const NodesPerObject = 250

// BudgetError says which limit of a Budget a source went over. It wraps
// ErrLimitExceeded.
type BudgetError struct {
	// Objects is true when the object limit was reached, false for bytes.
	Objects bool
	// Nodes is true when the YAML nodes the object limit allows were
	// reached; Objects is true too.
	Nodes bool
	// Limit is the limit that was reached.
	Limit int64
}

func (e *BudgetError) Error() string {
	if e.Nodes {
		return fmt.Sprintf("holds more than %d YAML values, %d for each of the %d objects one bundle may hold", e.Limit*NodesPerObject, NodesPerObject, e.Limit)
	}
	if e.Objects {
		return fmt.Sprintf("renders more than %d objects, the most one bundle may hold", e.Limit)
	}
	return fmt.Sprintf("renders more than %d bytes of objects, the most one bundle may hold", e.Limit)
}

// Unwrap makes errors.Is(err, ErrLimitExceeded) true.
func (e *BudgetError) Unwrap() error { return ErrLimitExceeded }

// charge counts one object of size bytes.
func (b *Budget) charge(size int) error {
	if b == nil {
		return nil
	}
	b.objects++
	b.bytes += int64(size)
	if b.MaxObjects > 0 && b.objects > b.MaxObjects {
		return &BudgetError{Objects: true, Limit: int64(b.MaxObjects)}
	}
	if b.MaxBytes > 0 && b.bytes > b.MaxBytes {
		return &BudgetError{Limit: b.MaxBytes}
	}
	return nil
}

// bytesLeft returns how many bytes may still be charged, or -1 for no limit.
func (b *Budget) bytesLeft() int64 {
	if b == nil || b.MaxBytes <= 0 {
		return -1
	}
	return max(0, b.MaxBytes-b.bytes)
}

// textLeft returns how many bytes of YAML text (a rendered chart, the files
// a kustomization reads) may still be read, or -1 for no limit. YAML is
// seldom more than twice the size of its objects' JSON, so text beyond that
// cannot fit in what is left and is refused before it is decoded.
func (b *Budget) textLeft() int64 {
	left := b.bytesLeft()
	if left < 0 {
		return -1
	}
	return 2 * left
}

// checkText refuses size bytes of YAML text when they are more than textLeft.
func (b *Budget) checkText(size int64) error {
	if left := b.textLeft(); left >= 0 && size > left {
		return &BudgetError{Limit: b.MaxBytes}
	}
	return nil
}

// checkDocuments refuses n YAML documents when they are more than twice the
// objects left, so many that their objects cannot fit.
func (b *Budget) checkDocuments(n int) error {
	if b == nil || b.MaxObjects <= 0 {
		return nil
	}
	if n > 2*(b.MaxObjects-b.objects) {
		return &BudgetError{Objects: true, Limit: int64(b.MaxObjects)}
	}
	return nil
}

// chargeNodes counts n YAML nodes read.
func (b *Budget) chargeNodes(n int) error {
	if err := b.checkNodes(n); err != nil {
		return err
	}
	if b != nil {
		b.nodes += n
	}
	return nil
}

// checkNodes refuses n more YAML nodes when they do not fit.
func (b *Budget) checkNodes(n int) error {
	if b == nil || b.MaxObjects <= 0 {
		return nil
	}
	if b.nodes+n > NodesPerObject*b.MaxObjects {
		return &BudgetError{Objects: true, Nodes: true, Limit: int64(b.MaxObjects)}
	}
	return nil
}
