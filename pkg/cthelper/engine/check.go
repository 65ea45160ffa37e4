package engine

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/gonfct/gonfct/pkg/cthelper"
	"github.com/gonfct/gonfct/pkg/cthelper/engine/registry"
	"github.com/gonfct/gonfct/pkg/ctnl"
	"github.com/gonfct/gonfct/pkg/expect"
	"github.com/gonfct/gonfct/pkg/nfq"
	"golang.org/x/sys/unix"
)

// Finding is one result of Check.
type Finding struct {
	What   string `json:"what"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// Check validates cfg and probes, without leaving any change behind, what
// the running kernel must offer for it: a netfilter socket
// (CAP_NET_ADMIN), nfnetlink_cthelper, ctnetlink expectations, the
// namespaces named, each queue free and bindable with the conntrack glue
// in each of them (bound and unbound at once), no kernel helper holding a
// helper's name, and (with opts.Registry) no other engine serving one.
func Check(opts Options, cfg Config) []Finding {
	var out []Finding
	add := func(what string, err error, okDetail string) bool {
		f := Finding{What: what, OK: err == nil, Detail: okDetail}
		if err != nil {
			f.Detail = err.Error()
		}
		out = append(out, f)
		return err == nil
	}
	if !add("configuration", cfg.Validate(), fmt.Sprintf("%d helper(s) on %d queue(s)", len(cfg.Helpers), len(cfg.queues()))) {
		return out
	}
	found, err := lookNetns(cfg.Netns)
	if len(cfg.Netns) > 0 {
		detail := "none now"
		if len(found) > 0 {
			detail = strings.Join(nsNames(found), ", ")
		}
		add("network namespaces ("+strings.Join(cfg.Netns, " ")+")", err, detail)
	}
	var engines []registry.Entry
	if opts.Registry != nil {
		engines, err = opts.Registry.Live()
		add("engine registry "+opts.Registry.Path(), err, fmt.Sprintf("%d other engine(s) running", len(engines)))
	}
	c, err := opts.Dial()
	if !add("netfilter netlink socket", err, "opened") {
		return out
	}
	defer c.Close()

	cl := cthelper.NewClient(c)
	existing, err := cl.List()
	haveCthelper := add("nfnetlink_cthelper (user-space helper objects)", err, fmt.Sprintf("available, %d helper object(s) exist", len(existing)))
	for _, qc := range cfg.queues() {
		for _, o := range qc.objects {
			what := fmt.Sprintf("helper %s %s %s", o.Name, ctnl.FamilyName(o.Family), ctnl.ProtoName(o.Proto))
			detail := "no kernel helper of that name: will be created and enabled"
			if !haveCthelper {
				detail = "no kernel helper of that name"
			}
			for _, h := range existing {
				if h.Name == o.Name && h.Family == o.Family && h.Proto == o.Proto {
					detail = fmt.Sprintf("exists (%s, queue %d): will be updated and enabled", h.Status, h.QueueNum)
				}
			}
			err := kernelHelperClash(o.Name)
			if holder, ok := servedElsewhere(o, engines); ok && err == nil {
				err = &registry.ConflictError{Helper: registryHelper(o), Holder: holder}
			}
			add(what, err, detail)
		}
	}

	err = expect.NewClient(c).Dump(expect.ListOptions{}, func(*expect.Expectation) error { return nil })
	add("ctnetlink expectations", err, "available")

	for _, f := range found {
		dial := opts.Dial
		where := ""
		if f.path != "" {
			where = " in namespace " + f.name
			fd, err := openNetns(f)
			if err != nil {
				add("network namespace "+f.name, err, "")
				continue
			}
			defer fd.Close()
			dial = dialVia(fd)
		}
		for _, qc := range cfg.queues() {
			if _, ok := qc.parserFor(f.name); ok {
				what := fmt.Sprintf("queue %d with conntrack glue%s (for %s)", qc.num, where, qc.name)
				add(what, probeQueue(dial, qc.num, cfg.FailOpen), "free, and the kernel accepts NFQA_CFG_F_CONNTRACK")
			}
		}
	}
	return out
}

// probeQueue binds a queue with the conntrack glue and unbinds it.
func probeQueue(dial func() (*ctnl.Conn, error), num uint16, failOpen bool) error {
	qconn, err := dial()
	if err != nil {
		return err
	}
	q, err := nfq.Bind(qconn, nfq.Config{Num: num, Conntrack: true, FailOpen: failOpen, ReceiveBuffer: 64 << 10})
	if err != nil {
		qconn.Close()
		return err
	}
	return q.Close()
}

// kernelHelperClash reports a kernel helper module (loaded, or built in)
// of that name: the kernel refuses a user-space helper of the same name
// with EBUSY. Modules with parameters show under /sys/module even when
// built in.
func kernelHelperClash(name string) error {
	mod := "nf_conntrack_" + name
	if _, err := os.Stat("/sys/module/" + mod); err == nil {
		return ctnl.Errorf("kernel helper "+mod, unix.EBUSY,
			"the kernel's own %s helper is registered (module %s loaded or built in), so a user-space helper named %q is refused: "+
				"unload it with `modprobe -r nf_nat_%s %s` (a built-in one cannot be unloaded: use the kernel's helper, or a kernel that has it as a module)",
			name, mod, name, name, mod)
	}
	return nil
}

// CheckFailed reports whether any finding is a problem.
func CheckFailed(fs []Finding) error {
	n := 0
	for _, f := range fs {
		if !f.OK {
			n++
		}
	}
	if n > 0 {
		return errors.New(fmt.Sprint(n, " problem(s) found: the engine cannot run here as configured"))
	}
	return nil
}
