// Command vcluster-config checks what the vcluster chart stores in its
// config Secret (vc-config-<name>, key config.yaml) the way the vcluster
// control plane reads it when it starts: strictly, with vcluster's own
// config package, so an unknown or misspelt field is an error. It reads
// the file named as its argument, or standard input, accepts either the
// Secret (YAML or JSON, with data or stringData) or the values themselves,
// and exits 1 with vcluster's error when they would not load.
package main

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"

	vclusterconfig "github.com/loft-sh/vcluster/config"
	"sigs.k8s.io/yaml"
)

// maxInput bounds what is read; a config Secret is far smaller.
const maxInput = 4 << 20

func main() {
	if err := run(os.Args[1:], os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "vcluster-config:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader) error {
	in := stdin
	switch len(args) {
	case 0:
	case 1:
		f, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	default:
		return errors.New("usage: vcluster-config [FILE]")
	}
	data, err := io.ReadAll(io.LimitReader(in, maxInput+1))
	if err != nil {
		return err
	}
	if len(data) > maxInput {
		return fmt.Errorf("the input is larger than %d bytes", maxInput)
	}
	values, err := valuesOf(data)
	if err != nil {
		return err
	}
	cfg := &vclusterconfig.Config{}
	return cfg.UnmarshalYAMLStrict(values)
}

// valuesOf returns the config.yaml of a config Secret, or data itself when
// it is not a Secret.
func valuesOf(data []byte) ([]byte, error) {
	var secret struct {
		Kind       string            `json:"kind"`
		Data       map[string]string `json:"data"`
		StringData map[string]string `json:"stringData"`
	}
	if err := yaml.Unmarshal(data, &secret); err != nil || secret.Kind != "Secret" {
		return data, nil
	}
	if v, ok := secret.StringData["config.yaml"]; ok {
		return []byte(v), nil
	}
	v, ok := secret.Data["config.yaml"]
	if !ok {
		return nil, errors.New("the Secret has no key config.yaml")
	}
	return base64.StdEncoding.DecodeString(v)
}
