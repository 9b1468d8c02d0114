package schemas

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Sleep says when an environment sleeps: scaled to zero, its workloads
// stopped, until it wakes. A request, its size or its template can carry
// one; the request's wins over its size's, which wins over the template's.
//
// An environment sleeps at each sleep time and wakes at each wake time, as
// vCluster Platform's sleep and wake-up schedules do: "weekdays
// 20:00-08:00" sleeps at 20:00 and wakes at 08:00 Monday to Friday, so it
// sleeps from Friday evening to Monday morning.
type Sleep struct {
	// Schedule is the readable form "DAYS HH:MM-HH:MM": DAYS is daily,
	// weekdays, weekends or a cron day-of-week field (mon-fri, sat,sun);
	// the environment sleeps at the first time and wakes at the second on
	// those days. "never" turns off a schedule the size or template gives.
	Schedule string `json:"schedule,omitempty"`
	// SleepAt and WakeAt are five-field cron expressions (minute hour
	// day-of-month month day-of-week) of more sleep and wake times.
	SleepAt string `json:"sleepAt,omitempty"`
	WakeAt  string `json:"wakeAt,omitempty"`
	// TimeZone is the IANA time zone the times are in, such as
	// Europe/Berlin; empty means UTC.
	TimeZone string `json:"timeZone,omitempty"`
}

// SleepNever is the Schedule that turns sleeping off.
const SleepNever = "never"

// SleepFor returns the schedule an environment follows: the request's,
// else its size's, else its template's; nil when none says one or the one
// that wins says never.
func SleepFor(env *EnvironmentSpec, size *Size, tmpl *TemplateSpec) *Sleep {
	var s *Sleep
	switch {
	case env != nil && env.Sleep != nil:
		s = env.Sleep
	case size != nil && size.Sleep != nil:
		s = size.Sleep
	case tmpl != nil && tmpl.Sleep != nil:
		s = tmpl.Sleep
	}
	if s == nil || strings.EqualFold(strings.TrimSpace(s.Schedule), SleepNever) {
		return nil
	}
	return s
}

// SleepSchedule is a parsed Sleep.
type SleepSchedule struct {
	sleeps, wakes []cron.Schedule
	text          string
}

// ErrNeverWakes means a schedule sleeps and never wakes again.
var ErrNeverWakes = errors.New("the schedule never wakes the environment")

// cronParser reads the five standard fields; descriptors such as @daily
// are accepted too.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

var windowPattern = regexp.MustCompile(`^\s*(\S+)\s+([0-9]{1,2}):([0-9]{2})\s*-\s*([0-9]{1,2}):([0-9]{2})\s*$`)

// dayWords are the day sets the readable form names, as cron fields.
var dayWords = map[string]string{"daily": "*", "everyday": "*", "weekdays": "1-5", "weekends": "0,6"}

// ParseSleep parses and checks a schedule: its time zone, its expressions,
// and that it both sleeps and wakes. Errors say what to write instead.
func ParseSleep(s Sleep) (*SleepSchedule, error) {
	loc := time.UTC
	if s.TimeZone != "" {
		var err error
		// A zone name is a path below the zoneinfo folder: refuse anything
		// that would leave it before the lookup does.
		if strings.Contains(s.TimeZone, "..") || strings.HasPrefix(s.TimeZone, "/") {
			return nil, fmt.Errorf("timeZone %q is not an IANA time zone; write one such as Europe/Berlin", s.TimeZone)
		}
		if loc, err = time.LoadLocation(s.TimeZone); err != nil {
			return nil, fmt.Errorf("timeZone %q is not an IANA time zone; write one such as Europe/Berlin or America/New_York", s.TimeZone)
		}
	}
	out := &SleepSchedule{}
	add := func(field, expr string, to *[]cron.Schedule) error {
		if strings.HasPrefix(strings.TrimSpace(expr), "CRON_TZ=") || strings.HasPrefix(strings.TrimSpace(expr), "TZ=") {
			return fmt.Errorf("%s %q names a time zone; set timeZone instead", field, expr)
		}
		sched, err := cronParser.Parse(expr)
		if err != nil {
			return fmt.Errorf("%s %q is not a cron expression (minute hour day-of-month month day-of-week, such as \"0 20 * * 1-5\"): %w", field, expr, err)
		}
		if spec, ok := sched.(*cron.SpecSchedule); ok {
			spec.Location = loc
		}
		*to = append(*to, sched)
		return nil
	}
	var parts []string
	if sch := strings.TrimSpace(s.Schedule); sch != "" {
		sleepAt, wakeAt, err := parseWindow(sch)
		if err != nil {
			return nil, err
		}
		if err := add("schedule", sleepAt, &out.sleeps); err != nil {
			return nil, err
		}
		if err := add("schedule", wakeAt, &out.wakes); err != nil {
			return nil, err
		}
		parts = append(parts, sch)
	}
	if s.SleepAt != "" {
		if err := add("sleepAt", s.SleepAt, &out.sleeps); err != nil {
			return nil, err
		}
		parts = append(parts, "sleep at "+s.SleepAt)
	}
	if s.WakeAt != "" {
		if err := add("wakeAt", s.WakeAt, &out.wakes); err != nil {
			return nil, err
		}
		parts = append(parts, "wake at "+s.WakeAt)
	}
	switch {
	case len(out.sleeps) == 0 && len(out.wakes) == 0:
		return nil, errors.New(`the schedule is empty; write schedule: "weekdays 20:00-08:00", or sleepAt and wakeAt cron expressions, or schedule: never`)
	case len(out.sleeps) == 0:
		return nil, errors.New("the schedule wakes but never sleeps; add sleepAt, or use schedule")
	case len(out.wakes) == 0:
		return nil, fmt.Errorf("%w: add wakeAt, or use schedule with a wake time", ErrNeverWakes)
	}
	out.text = strings.Join(parts, ", ") + " (" + loc.String() + ")"
	return out, nil
}

// parseWindow turns "DAYS HH:MM-HH:MM" into a sleep and a wake cron
// expression.
func parseWindow(s string) (sleepAt, wakeAt string, err error) {
	m := windowPattern.FindStringSubmatch(s)
	if m == nil {
		return "", "", fmt.Errorf("schedule %q is not DAYS HH:MM-HH:MM; write one such as \"weekdays 20:00-08:00\" (DAYS: daily, weekdays, weekends, or mon-fri), or never", s)
	}
	days := strings.ToLower(m[1])
	if w, ok := dayWords[days]; ok {
		days = w
	}
	at := func(h, min string) (string, error) {
		hh, _ := strconv.Atoi(h)
		mm, _ := strconv.Atoi(min)
		if hh > 23 || mm > 59 {
			return "", fmt.Errorf("schedule %q: %s:%s is not a time of day; write 00:00 to 23:59", s, h, min)
		}
		return fmt.Sprintf("%d %d * * %s", mm, hh, days), nil
	}
	if sleepAt, err = at(m[2], m[3]); err != nil {
		return "", "", err
	}
	if wakeAt, err = at(m[4], m[5]); err != nil {
		return "", "", err
	}
	if sleepAt == wakeAt {
		return "", "", fmt.Errorf("schedule %q sleeps and wakes at the same time; the environment would never sleep", s)
	}
	return sleepAt, wakeAt, nil
}

// String says the schedule as a person reads it, with its time zone.
func (s *SleepSchedule) String() string { return s.text }

// NextSleep is the first sleep time after t; zero when there is none.
func (s *SleepSchedule) NextSleep(t time.Time) time.Time { return earliest(s.sleeps, t) }

// NextWake is the first wake time after t; zero when there is none.
func (s *SleepSchedule) NextWake(t time.Time) time.Time { return earliest(s.wakes, t) }

// Asleep reports whether the schedule has the environment asleep at t:
// when the last sleep or wake time at or before t was a sleep time. A
// sleep and a wake at the same minute leave it awake; with neither in the
// year before t it is awake.
func (s *SleepSchedule) Asleep(t time.Time) bool {
	slept, woke := latest(s.sleeps, t), latest(s.wakes, t)
	return !slept.IsZero() && (woke.IsZero() || slept.After(woke))
}

// NextChange is when the schedule next changes whether the environment
// sleeps, after t; zero when it never does.
func (s *SleepSchedule) NextChange(t time.Time) time.Time {
	if s.Asleep(t) {
		return s.NextWake(t)
	}
	return s.NextSleep(t)
}

// Check reports a schedule that, from now, never sleeps or never wakes.
func (s *SleepSchedule) Check(now time.Time) error {
	next := s.NextSleep(now)
	if next.IsZero() {
		return errors.New("the schedule never sleeps again; its sleep times are all in the past")
	}
	if !s.Asleep(next) {
		return errors.New("the schedule wakes at every time it sleeps; the environment would never sleep")
	}
	if s.NextWake(next).IsZero() {
		return fmt.Errorf("%w after %s", ErrNeverWakes, next.Format(time.RFC3339))
	}
	return nil
}

func earliest(list []cron.Schedule, t time.Time) time.Time {
	var out time.Time
	for _, c := range list {
		if n := c.Next(t); !n.IsZero() && (out.IsZero() || n.Before(out)) {
			out = n
		}
	}
	return out
}

// lookbacks are how far back latest looks, each tried in turn, so that a
// schedule that fires often is searched over a short span only.
var lookbacks = []time.Duration{time.Hour, 24 * time.Hour, 8 * 24 * time.Hour, 32 * 24 * time.Hour, 367 * 24 * time.Hour}

// latest is the last time of any of list at or before t, within a year;
// zero when there is none. cron only looks forward, so it walks forward
// from ever earlier starts.
func latest(list []cron.Schedule, t time.Time) time.Time {
	var out time.Time
	for _, c := range list {
		for _, back := range lookbacks {
			var last time.Time
			for n := c.Next(t.Add(-back)); !n.IsZero() && !n.After(t); n = c.Next(n) {
				last = n
			}
			if !last.IsZero() {
				if last.After(out) {
					out = last
				}
				break
			}
		}
	}
	return out
}

// AwakeShare is the share of the four weeks from t that the schedule keeps
// an environment awake: what an estimate of its cost counts, the hours
// asleep being free. It walks the schedule's changes; a schedule that
// changes more than maxShareChanges times in the span is sampled instead.
func (s *SleepSchedule) AwakeShare(t time.Time) float64 {
	const span = 28 * 24 * time.Hour
	end := t.Add(span)
	var awake time.Duration
	asleep := s.Asleep(t)
	for n := 0; t.Before(end); n++ {
		if n == maxShareChanges {
			return s.sampledShare(end.Add(-span), span)
		}
		var next time.Time
		if asleep {
			next = s.NextWake(t)
		} else {
			next = s.NextSleep(t)
		}
		if next.IsZero() || next.After(end) {
			next = end
		}
		if !asleep {
			awake += next.Sub(t)
		}
		// At a minute that both sleeps and wakes, the environment is awake.
		t, asleep = next, !asleep && s.Asleep(next)
	}
	return awake.Seconds() / span.Seconds()
}

// maxShareChanges bounds the changes AwakeShare walks.
const maxShareChanges = 500

// sampledShare is the share of span from t awake, sampled every 37
// minutes: a step that no hourly or daily pattern of changes lines up with.
func (s *SleepSchedule) sampledShare(t time.Time, span time.Duration) float64 {
	const step = 37 * time.Minute
	awake, n := 0, int(span/step)
	for i := range n {
		if !s.Asleep(t.Add(time.Duration(i) * step)) {
			awake++
		}
	}
	return float64(awake) / float64(n)
}
