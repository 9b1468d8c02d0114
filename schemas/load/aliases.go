package load

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// RefuseAliases applies the rule request files follow to any other YAML
// allot renders (manifests, kustomizations and their patches, chart values):
// it reads every document of data and fails at the first anchor, alias or
// merge key, or at invalid YAML, with the line. Aliases are never expanded,
// so a YAML bomb costs no more than its own size to refuse. It returns the
// number of YAML nodes, which is what decoding the data costs.
func RefuseAliases(data []byte) (int, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	nodes := 0
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nodes, nil
		}
		if err != nil {
			return nodes, lineError(syntaxError(err))
		}
		stack := []*yaml.Node{&doc}
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			nodes++
			if err := refuseAlias(n); err != nil {
				return nodes, lineError(err)
			}
			for i := len(n.Content) - 1; i >= 0; i-- { // first child on top: report in file order
				stack = append(stack, n.Content[i])
			}
		}
	}
}

// lineError puts the line of a fileError in front of its message.
func lineError(err error) error {
	var fe *fileError
	if errors.As(err, &fe) && fe.line > 0 {
		return fmt.Errorf("line %d: %s", fe.line, fe.msg)
	}
	return err
}
