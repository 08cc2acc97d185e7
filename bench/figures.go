package bench

import (
	"context"
	"strings"
)

// figure is one measured thing. setup (optional) prepares data in a child
// that is not measured; run measures in a child of its own.
type figure struct {
	name      string
	group     string // limits, fanout, dispatch, trigger, inbound
	db        bool   // gets its own PostgreSQL database
	providers bool   // gets fresh local providers
	setup     func(context.Context, *childCtx) error
	run       func(context.Context, *childCtx) error
}

var figures = []figure{
	{name: "limit-redis", group: "limits", run: runLimitRedis},
	{name: "limit-smtp", group: "limits", providers: true, run: runLimitSMTP},
	{name: "limit-asynq", group: "limits", run: runLimitAsynq},
	{name: "limit-gin", group: "limits", run: runLimitGin},
	{name: "limit-store", group: "limits", db: true, setup: setupMigrated, run: runLimitStore},
	{name: "fanout", group: "fanout", db: true, providers: true, setup: setupFanout, run: runFanout},
	{name: "dispatch-email", group: "dispatch", db: true, providers: true, setup: setupDispatch("email"), run: runDispatch("email")},
	{name: "dispatch-sms", group: "dispatch", db: true, providers: true, setup: setupDispatch("sms"), run: runDispatch("sms")},
	{name: "dispatch-webhook", group: "dispatch", db: true, providers: true, setup: setupDispatch("webhook"), run: runDispatch("webhook")},
	{name: "dispatch-mixed", group: "dispatch", db: true, providers: true, setup: setupDispatch("mixed"), run: runDispatch("mixed")},
	{name: "trigger", group: "trigger", db: true, providers: true, setup: setupTrigger, run: runTrigger},
	{name: "inbound", group: "inbound", db: true, providers: true, setup: setupInbound, run: runInbound},
}

func figureByName(name string) (figure, bool) {
	for _, f := range figures {
		if f.name == name {
			return f, true
		}
	}
	return figure{}, false
}

func figureNames() []string {
	var out []string
	for _, f := range figures {
		out = append(out, f.name)
	}
	return out
}

// selectFigures resolves -figures: "all", groups and names, in the order
// of figures (limits first: the ratios need them).
func selectFigures(spec string) []figure {
	want := map[string]bool{}
	for _, s := range strings.Split(spec, ",") {
		if s = strings.TrimSpace(s); s != "" {
			want[s] = true
		}
	}
	var out []figure
	for _, f := range figures {
		if want["all"] || want[f.name] || want[f.group] {
			out = append(out, f)
		}
	}
	return out
}
