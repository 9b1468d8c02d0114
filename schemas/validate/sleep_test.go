package validate

import (
	"strings"
	"testing"
)

func TestSleepSchedules(t *testing.T) {
	for _, tc := range []struct{ name, sleep, want string }{
		{"readable form with a zone", `{schedule: "weekdays 20:00-08:00", timeZone: Europe/Berlin}`, ""},
		{"cron pair", `{sleepAt: "0 20 * * 1-5", wakeAt: "0 8 * * 1-5"}`, ""},
		{"never", `{schedule: never}`, ""},
		{"unknown zone", `{schedule: "daily 20:00-08:00", timeZone: Mars/Olympus}`, `environments/web/demo.yaml:11: sleep: timeZone "Mars/Olympus" is not an IANA time zone`},
		{"zone that leaves zoneinfo", `{schedule: "daily 20:00-08:00", timeZone: ../../etc/passwd}`, `is not an IANA time zone`},
		{"bad cron", `{sleepAt: "0 25 * * *", wakeAt: "0 8 * * *"}`, `sleepAt "0 25 * * *" is not a cron expression`},
		{"bad readable form", `{schedule: "weekdays at eight"}`, `is not DAYS HH:MM-HH:MM`},
		{"bad hour", `{schedule: "daily 24:00-08:00"}`, `24:00 is not a time of day`},
		{"never wakes", `{sleepAt: "0 20 * * *"}`, `never wakes the environment`},
		{"zone in the expression", `{sleepAt: "0 20 * * *", wakeAt: "CRON_TZ=UTC 0 8 * * *"}`, `names a time zone; set timeZone instead`},
		{"same times", `{sleepAt: "0 20 * * *", wakeAt: "0 20 * * *"}`, `would never sleep`},
		{"same times readable", `{schedule: "daily 20:00-20:00"}`, `sleeps and wakes at the same time`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := check(t, "", "  cluster: eu\n  expires: 14d\n  sleep: "+tc.sleep+"\n", nil)
			if tc.want == "" {
				expect(t, got)
			} else {
				expect(t, got, tc.want)
			}
		})
	}
}

func TestSleepOfSizesAndTemplates(t *testing.T) {
	withSize := strings.Replace(platform, "sizes: {small: {quota: {pods: 10}}}", "sizes: {small: {quota: {pods: 10}, sleep: {schedule: \"daily 20:00-08:00\", timeZone: Nowhere/Land}}}", 1)
	expect(t, check(t, withSize, "  cluster: eu\n  expires: 14d\n", nil), `allot.yaml:8: sleep: timeZone "Nowhere/Land"`)

	tmpl := "apiVersion: allot.dev/v1alpha1\nkind: EnvironmentTemplate\nmetadata: {name: namespace}\nspec:\n  sources: [{name: base, template: namespace}]\n  sleep:\n    sleepAt: \"0 20 * * *\"\n"
	expect(t, check(t, "", "  cluster: eu\n  expires: 14d\n", map[string]string{"templates/namespace/template.yaml": tmpl}), "templates/namespace/template.yaml:6: sleep: the schedule never wakes")
}
