package main

import (
	"runtime/debug"
	"testing"
)

func TestVersionString(t *testing.T) {
	old := buildInfo
	defer func() { buildInfo = old }()
	for _, c := range []struct {
		bi   *debug.BuildInfo
		want string
	}{
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-05-01T10:00:00Z"}, {Key: "vcs.modified", Value: "false"}}},
			"pinset v1.2.3 (0123456789ab, 2026-05-01T10:00:00Z) go1.26.8"},
		{&debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}}},
			"pinset (devel) (abc, modified) go1.26.8"},
		{&debug.BuildInfo{GoVersion: "go1.26.8"}, "pinset (devel) (no VCS revision) go1.26.8"},
		{nil, "pinset (no build information)"},
	} {
		buildInfo = func() (*debug.BuildInfo, bool) { return c.bi, c.bi != nil }
		if got := versionString(); got != c.want {
			t.Errorf("versionString() = %q, want %q", got, c.want)
		}
	}
}
