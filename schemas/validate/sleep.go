package validate

import (
	"strings"

	"github.com/allot-dev/allot/schemas"
	"github.com/allot-dev/allot/schemas/load"
)

// sleep checks one sleep schedule at path of doc: its time zone, its
// expressions, and that it sleeps and wakes again from now on.
func (c *checker) sleep(doc *load.Document, s *schemas.Sleep, path ...string) {
	if s == nil || strings.EqualFold(strings.TrimSpace(s.Schedule), schemas.SleepNever) {
		return
	}
	pos := doc.Pos(path...)
	sched, err := schemas.ParseSleep(*s)
	if err == nil {
		err = sched.Check(c.opts.Now)
	}
	if err != nil {
		c.errorf(pos, schemas.RuleSleep, "sleep: %v", err)
	}
}
