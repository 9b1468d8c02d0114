package schemas

import (
	"testing"
	"time"
)

func mustSchedule(t *testing.T, s Sleep) *SleepSchedule {
	t.Helper()
	sched, err := ParseSleep(s)
	if err != nil {
		t.Fatal(err)
	}
	return sched
}

func TestWeekdaysSleepOverTheWeekend(t *testing.T) {
	s := mustSchedule(t, Sleep{Schedule: "weekdays 20:00-08:00", TimeZone: "Europe/Berlin"})
	berlin, _ := time.LoadLocation("Europe/Berlin")
	at := func(day, hour, minute int) time.Time { return time.Date(2026, 11, day, hour, minute, 0, 0, berlin) }
	for _, tc := range []struct {
		name   string
		t      time.Time
		asleep bool
		next   time.Time
	}{
		{"Monday noon", at(23, 12, 0), false, at(23, 20, 0)},
		{"Monday at the sleep time", at(23, 20, 0), true, at(24, 8, 0)},
		{"Monday night", at(23, 23, 0), true, at(24, 8, 0)},
		{"Tuesday at the wake time", at(24, 8, 0), false, at(24, 20, 0)},
		{"Friday night", at(27, 21, 0), true, at(30, 8, 0)},
		{"Saturday noon", at(28, 12, 0), true, at(30, 8, 0)},
		{"Sunday night", at(29, 23, 59), true, at(30, 8, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.Asleep(tc.t); got != tc.asleep {
				t.Errorf("Asleep = %v, want %v", got, tc.asleep)
			}
			if got := s.NextChange(tc.t); !got.Equal(tc.next) {
				t.Errorf("NextChange = %s, want %s", got, tc.next)
			}
		})
	}
	if got, want := s.String(), "weekdays 20:00-08:00 (Europe/Berlin)"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

// TestSleepAcrossDaylightSavingTime checks that the times are wall-clock
// times of the zone: 08:00 in Berlin is 07:00 UTC before the clocks go
// forward on 29 March 2026 and 06:00 UTC after, and back again on 25
// October.
func TestSleepAcrossDaylightSavingTime(t *testing.T) {
	s := mustSchedule(t, Sleep{Schedule: "daily 01:00-08:00", TimeZone: "Europe/Berlin"})
	utc := func(month time.Month, day, hour, minute int) time.Time {
		return time.Date(2026, month, day, hour, minute, 0, 0, time.UTC)
	}
	for _, tc := range []struct {
		name   string
		t      time.Time
		asleep bool
		next   time.Time
	}{
		{"the night before spring forward", utc(3, 28, 6, 30), true, utc(3, 28, 7, 0)},
		{"the morning before spring forward", utc(3, 28, 7, 0), false, utc(3, 29, 0, 0)},
		{"the night of spring forward", utc(3, 29, 5, 59), true, utc(3, 29, 6, 0)},
		{"an hour earlier in UTC after spring forward", utc(3, 29, 6, 0), false, utc(3, 29, 23, 0)},
		{"the night of fall back", utc(10, 25, 6, 30), true, utc(10, 25, 7, 0)},
		{"the first night after fall back", utc(10, 25, 23, 30), false, utc(10, 26, 0, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.Asleep(tc.t); got != tc.asleep {
				t.Errorf("Asleep(%s) = %v, want %v", tc.t, got, tc.asleep)
			}
			if got := s.NextChange(tc.t); !got.Equal(tc.next) {
				t.Errorf("NextChange(%s) = %s, want %s", tc.t, got.UTC(), tc.next)
			}
		})
	}
}

func TestCronAndReadableFormTogether(t *testing.T) {
	// The readable form for weeknights, and cron for a Saturday nap.
	s := mustSchedule(t, Sleep{Schedule: "weekdays 20:00-08:00", SleepAt: "0 12 * * 6", WakeAt: "0 14 * * 6"})
	if !s.Asleep(time.Date(2026, 11, 28, 13, 0, 0, 0, time.UTC)) {
		t.Error("awake during the Saturday sleep the cron expressions add")
	}
	if s.Asleep(time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC)) {
		t.Error("asleep after the Saturday wake")
	}
}

func TestSleepPrecedence(t *testing.T) {
	req, size, tmpl := &Sleep{Schedule: "daily 22:00-06:00"}, &Sleep{Schedule: "daily 21:00-07:00"}, &Sleep{Schedule: "daily 20:00-08:00"}
	for _, tc := range []struct {
		name string
		env  *EnvironmentSpec
		size *Size
		want *Sleep
	}{
		{"the request wins", &EnvironmentSpec{Sleep: req}, &Size{Sleep: size}, req},
		{"then the size", &EnvironmentSpec{}, &Size{Sleep: size}, size},
		{"then the template", &EnvironmentSpec{}, &Size{}, tmpl},
		{"never turns the others off", &EnvironmentSpec{Sleep: &Sleep{Schedule: "never"}}, &Size{Sleep: size}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SleepFor(tc.env, tc.size, &TemplateSpec{Sleep: tmpl}); got != tc.want {
				t.Errorf("SleepFor = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestAwakeShareWalksTheChanges: the share from walking the schedule's
// changes is what sampling every five minutes gives, across a DST change,
// and a schedule that changes too often is sampled instead.
func TestAwakeShareWalksTheChanges(t *testing.T) {
	from := time.Date(2027, 3, 15, 0, 0, 0, 0, time.UTC) // Berlin moves its clocks on 28 March
	for _, sl := range []Sleep{
		{Schedule: "weekdays 20:00-08:00", TimeZone: "Europe/Berlin"},
		{SleepAt: "30 18 * * 1-5", WakeAt: "0 7 * * 1-5", TimeZone: "America/New_York"},
		{SleepAt: "*/2 * * * *", WakeAt: "1-59/2 * * * *"},
	} {
		s, err := ParseSleep(sl)
		if err != nil {
			t.Fatal(err)
		}
		awake, n := 0, 28*24*12
		for i := range n {
			if !s.Asleep(from.Add(time.Duration(i) * 5 * time.Minute)) {
				awake++
			}
		}
		want := float64(awake) / float64(n)
		if got := s.AwakeShare(from); got < want-0.01 || got > want+0.01 {
			t.Errorf("%+v: awake share %.4f, want %.4f", sl, got, want)
		}
	}
}
