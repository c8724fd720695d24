package main

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// version and commit are fallbacks for builds that carry no VCS information,
// such as the Docker image, whose build context leaves out .git:
//
//	go build -ldflags "-X main.version=v1.2.3 -X main.commit=$(git rev-parse HEAD) -X main.modified=true"
//
// A build from a git checkout needs none: Go records them.
var (
	version  string
	commit   string
	modified string
)

// buildInfo is what a binary knows about how it was built.
type buildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Modified  bool   `json:"modified"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

// readBuildInfo reads the main module's version and the VCS stamp that
// go build records. The version is "(devel)" for a build that has none.
func readBuildInfo() buildInfo {
	b := buildInfo{Version: "(devel)", Commit: "unknown", GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		if v := info.Main.Version; v != "" {
			b.Version = v
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if version != "" && b.Version == "(devel)" {
		b.Version = version
	}
	if commit != "" && b.Commit == "unknown" {
		b.Commit, b.Modified = commit, modified == "true"
	}
	return b
}

// String is the one line clerksync version prints.
func (b buildInfo) String() string {
	c := b.Commit
	if b.Modified {
		c += ", modified"
	}
	return fmt.Sprintf("clerksync %s (commit %s) %s %s", b.Version, c, b.GoVersion, b.Platform)
}

// buildInfoGauge is clerksync_build_info: always 1, labelled with what
// clerksync version prints, so that dashboards can tell which build runs
// where and alerts can spot a mixed fleet.
func buildInfoGauge(b buildInfo) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "clerksync_build_info",
		Help: "Always 1; the labels say which build of clerksync this process runs.",
		ConstLabels: prometheus.Labels{
			"version": b.Version, "commit": b.Commit, "modified": fmt.Sprint(b.Modified), "go_version": b.GoVersion,
		},
	})
	g.Set(1)
	return g
}

func cmdVersion(_ context.Context, e *Env, args []string) error {
	fs := newFlags(e, "version", "[--json]", "Prints the version, commit and Go version of this binary, as recorded by go build\n"+
		"(\"(devel)\" for a build without a module version; \"modified\" when the checkout had changes).\n"+
		"Every serving process exports the same as the clerksync_build_info gauge.")
	asJSON := fs.Bool("json", false, "print a JSON object instead of one line")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError("unexpected argument %q (clerksync version -h)", fs.Arg(0))
	}
	b := readBuildInfo()
	if *asJSON {
		return json.NewEncoder(e.Stdout).Encode(b)
	}
	fmt.Fprintln(e.Stdout, b)
	return nil
}
