package harness

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// maxCRDFile bounds one CustomResourceDefinition file; the largest upstream
// ones (ECS services) are about 130 KB.
const maxCRDFile = 4 << 20

// ReadCRDFile reads one CustomResourceDefinition from a YAML file.
func ReadCRDFile(path string) (*apiextensionsv1.CustomResourceDefinition, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCRDFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxCRDFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxCRDFile)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(data, crd); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if crd.Kind != "CustomResourceDefinition" {
		return nil, fmt.Errorf("%s: kind %q, want CustomResourceDefinition", path, crd.Kind)
	}
	return crd, nil
}

// InstallCRDFiles creates the CustomResourceDefinitions of the given files
// as they are, schemas included, and waits until they serve.
func InstallCRDFiles(ctx context.Context, c client.Client, paths ...string) error {
	for _, p := range paths {
		crd, err := ReadCRDFile(p)
		if err != nil {
			return err
		}
		if err := c.Create(ctx, crd); err != nil {
			return fmt.Errorf("create CRD %s from %s: %w", crd.Name, p, err)
		}
		if err := waitEstablished(ctx, c, crd.Name); err != nil {
			return err
		}
	}
	return nil
}

// waitEstablished waits until the API server serves a CRD.
func waitEstablished(ctx context.Context, c client.Client, name string) error {
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		var got apiextensionsv1.CustomResourceDefinition
		if err := c.Get(ctx, client.ObjectKey{Name: name}, &got); err != nil {
			return false, nil
		}
		for _, cond := range got.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("CRD %s is not established: %w", name, err)
	}
	return nil
}
