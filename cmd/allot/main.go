// Command allot is a GitOps reconciler driven by a requests repository.
package main

import (
	// Sleep schedules name IANA time zones; the binary carries them, so
	// an image without /usr/share/zoneinfo reads them too.
	_ "time/tzdata"

	"github.com/allot-dev/allot/cmd/allot/app"
)

func main() {
	app.Main()
}
