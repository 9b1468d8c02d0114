// Command allot is a GitOps reconciler driven by a requests repository.
package main

import "github.com/allot-dev/allot/cmd/allot/app"

func main() {
	app.Main()
}
