package renderer

import (
	"fmt"
	"io"

	"sigs.k8s.io/yaml"
)

// WriteObjects writes objects as a YAML stream, each after a "---" line and a
// comment.
func WriteObjects(w io.Writer, objs []*Object, comment string) error {
	for _, o := range objs {
		data, err := yaml.JSONToYAML(o.raw)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "---\n# %s\n%s", comment, data); err != nil {
			return err
		}
	}
	return nil
}

// WriteBundle writes a whole bundle — every phase, the groups and the
// import with its inside bundle — as one YAML stream, for golden files and
// for reading.
func WriteBundle(w io.Writer, b *Bundle) error {
	fmt.Fprintf(w, "# environment %s on cluster %s (%s)\n# digest %s\n", b.Environment, b.Cluster, b.File, b.Digest)
	for _, g := range b.Groups {
		fmt.Fprintf(w, "# idp group %s: %v\n", g.Name, g.Members)
	}
	for _, p := range Phases() {
		if err := WriteObjects(w, b.Objects[p], "phase "+string(p)); err != nil {
			return err
		}
	}
	if b.Import != nil {
		i := b.Import
		fmt.Fprintf(w, "# import: kubeconfig in Secret %s/%s key %s, server %s\n", i.SecretNamespace, i.SecretName, i.SecretKey, i.Server)
		for _, p := range Phases() {
			if err := WriteObjects(w, i.Bundle.Objects[p], "inside "+i.Bundle.Cluster+", phase "+string(p)); err != nil {
				return err
			}
		}
	}
	return nil
}
