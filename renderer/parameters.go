package renderer

import (
	"fmt"
	"slices"
	"strings"

	"github.com/allot-dev/allot/schemas"
)

// setParameterValue sets the chart value pv.Path from the environment's
// spec.values[pv.Parameter], through pv.Map when it has one. A parameter
// the request leaves out leaves the chart's default.
func setParameterValue(values map[string]any, pv schemas.ParameterValue, params map[string]any) error {
	v, ok := params[pv.Parameter]
	if !ok || v == nil {
		return nil
	}
	if pv.Map != nil {
		key := fmt.Sprint(v)
		mapped, ok := pv.Map[key]
		if !ok {
			known := make([]string, 0, len(pv.Map))
			for k := range pv.Map {
				known = append(known, k)
			}
			slices.Sort(known)
			return fmt.Errorf("spec.values.%s is %q, which the template does not know; use one of %s", pv.Parameter, key, strings.Join(known, ", "))
		}
		v = mapped
	}
	keys := strings.Split(pv.Path, ".")
	m := values
	for i, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			if _, taken := m[k]; taken {
				return fmt.Errorf("parameterValues: %s is not a map in the chart values the template sets, so %s cannot be set", strings.Join(keys[:i+1], "."), pv.Path)
			}
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = deepCopy(v)
	return nil
}
