package reconciler

import (
	"encoding/json"
	"testing"
)

func TestKeptKnowsRequestsByNameAndByFile(t *testing.T) {
	var k Kept
	k.AddFile("environments/web/broken.yaml", "does not load")
	k.AddEnvironment("shop", "render failed")
	if !k.Holds(&Record{Environment: "shop", File: "environments/shop/shop.yaml"}) {
		t.Error("a request kept by name does not hold its record")
	}
	if !k.Holds(&Record{Environment: "web-dev", File: "environments/web/broken.yaml"}) {
		t.Error("a request kept by file does not hold the record that points at the file")
	}
	if k.Holds(&Record{Environment: "other", File: "environments/web/other.yaml"}) {
		t.Error("an environment that was not kept is held")
	}
	if _, ok := k.Reason("environments/web/broken.yaml"); ok {
		t.Error("a file is taken for an environment's name")
	}
	raw, err := json.Marshal(k)
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"environment":"shop","message":"render failed"},{"file":"environments/web/broken.yaml","message":"does not load"}]`; string(raw) != want {
		t.Errorf("JSON %s, want %s", raw, want)
	}
	only := k.Filter(func(kr KeptRequest) bool { return kr.File != "" })
	if only.Len() != 1 || only.Holds(&Record{Environment: "shop"}) {
		t.Errorf("Filter kept %v", only.List())
	}
	var empty Kept
	if raw, _ := json.Marshal(empty); string(raw) != "[]" {
		t.Errorf("an empty Kept is %s, want []", raw)
	}
}
