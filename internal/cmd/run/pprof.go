package run

import (
	"net/http"
	"net/http/pprof"
)

// pprofEnv, when set (to anything) in gonfct run's environment, adds Go's
// profiling endpoints (/debug/pprof/) to the --metrics listener: the engine
// benchmark takes a CPU profile of gonfct run under load this way. It is
// an environment variable rather than a flag because it is a developer's
// tool, off unless asked for, and --metrics may listen beyond localhost.
const pprofEnv = "GONFCT_PPROF"

// servePprof mounts net/http/pprof's handlers on mux (not on
// http.DefaultServeMux, which the package's init registers them on).
func servePprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}
