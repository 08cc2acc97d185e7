package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	_ "time/tzdata" // the zones must resolve on a host without tzdata
)

func TestDashboardTimeZone(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		env        map[string]string
		want       string // the zone loaded; empty for an error on dashboard.time_zone
	}{
		{name: "default", want: "UTC"},
		{name: "env", env: map[string]string{"NPSGATE_DASHBOARD_TIME_ZONE": "Asia/Shanghai"}, want: "Asia/Shanghai"},
		{name: "env trimmed", env: map[string]string{"NPSGATE_DASHBOARD_TIME_ZONE": " America/Los_Angeles "}, want: "America/Los_Angeles"},
		{name: "file", yaml: "dashboard:\n  time_zone: Europe/Berlin\n", want: "Europe/Berlin"},
		{name: "env over file", yaml: "dashboard:\n  time_zone: Europe/Berlin\n",
			env: map[string]string{"NPSGATE_DASHBOARD_TIME_ZONE": "Asia/Tokyo"}, want: "Asia/Tokyo"},
		{name: "unknown zone", env: map[string]string{"NPSGATE_DASHBOARD_TIME_ZONE": "Asia/Beijing"}},
		{name: "offset", env: map[string]string{"NPSGATE_DASHBOARD_TIME_ZONE": "+08:00"}},
		{name: "Local", yaml: "dashboard:\n  time_zone: Local\n"},
		{name: "bad in file", yaml: "dashboard:\n  time_zone: Mars/Olympus\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.yaml != "" {
				path = filepath.Join(t.TempDir(), "c.yaml")
				if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c, err := Load(path, env(tc.env))
			if tc.want == "" {
				var ce *Error
				if !errors.As(err, &ce) || ce.Key != "dashboard.time_zone" || ce.Env != "NPSGATE_DASHBOARD_TIME_ZONE" ||
					!strings.Contains(err.Error(), "IANA") {
					t.Fatalf("want an error naming dashboard.time_zone, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			loc, err := DashboardLocation(c.Dashboard.TimeZone)
			if err != nil || loc.String() != tc.want || c.Dashboard.TimeZone != tc.want {
				t.Errorf("time_zone %q loads %v %v, want %s", c.Dashboard.TimeZone, loc, err, tc.want)
			}
		})
	}
	if loc, err := DashboardLocation(""); err != nil || loc.String() != "UTC" {
		t.Errorf("empty zone: %v %v, want UTC", loc, err)
	}
	found := false
	for _, k := range EnvKeys() {
		found = found || k == "NPSGATE_DASHBOARD_TIME_ZONE"
	}
	if !found {
		t.Error("NPSGATE_DASHBOARD_TIME_ZONE is not among EnvKeys")
	}
}
