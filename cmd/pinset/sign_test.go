package main

import (
	"os"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"pinset.dev/pinset/trust"
)

// graftsig SRC DST puts the signatures of envelope SRC on envelope DST, as
// if DST had been changed after it was signed: they no longer verify.
func init() {
	scriptCmds["graftsig"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 2 {
			ts.Fatalf("usage: graftsig SRC DST")
		}
		src, err := trust.ParseEnvelope([]byte(ts.ReadFile(args[0])))
		ts.Check(err)
		dst, err := trust.ParseEnvelope([]byte(ts.ReadFile(args[1])))
		ts.Check(err)
		dst.Signatures = src.Signatures
		b, err := dst.Marshal()
		ts.Check(err)
		ts.Check(os.WriteFile(ts.MkAbs(args[1]), b, 0o644))
	}
}

// sleep DURATION waits (documents made with a lifetime of 1s expire).
func init() {
	scriptCmds["sleep"] = func(ts *testscript.TestScript, neg bool, args []string) {
		if neg || len(args) != 1 {
			ts.Fatalf("usage: sleep DURATION")
		}
		d, err := time.ParseDuration(args[0])
		ts.Check(err)
		time.Sleep(d)
	}
}
