package enforce_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strconv"
	"sync"
	"testing"

	"pinset.dev/pinset/enforce"
	"pinset.dev/pinset/enforce/enforcetest"
	"pinset.dev/pinset/policy"
)

// TestSharedVerdicts runs the shared table (package enforcetest) through a
// real Go handshake: VerifyConnection calls Enforcer.Check. Package mobile
// runs the same table through CheckServerTrusted with the chain a platform
// verified; both must give these verdicts.
func TestSharedVerdicts(t *testing.T) {
	w := enforcetest.NewWorld(t)
	set, err := policy.NewSet(w.Policies())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range enforcetest.Cases() {
		t.Run(c.Host+"/"+c.Server, func(t *testing.T) {
			var mu sync.Mutex
			var failures []*enforce.Failure
			e := enforce.New(enforce.Static(set), enforce.Options{OnFailure: func(f *enforce.Failure) {
				mu.Lock()
				failures = append(failures, f)
				mu.Unlock()
			}})
			dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, w.Addr(c.Server))
			}
			addr := net.JoinHostPort(c.Host, strconv.Itoa(w.Port(c.Server)))
			conn, err := e.DialTLSContextWith(&tls.Config{RootCAs: w.Roots}, dial)(context.Background(), "tcp", addr)
			if err == nil {
				conn.Close()
			}
			got := verdict(t, err, len(failures))
			if got != c.Want {
				t.Fatalf("%s on the %s server: %v, want %v (%s); err %v", c.Host, c.Server, got, c.Want, c.Why, err)
			}
			if len(failures) > 0 && failures[0].Port != w.Port(c.Server) {
				t.Errorf("failure port %d, want %d", failures[0].Port, w.Port(c.Server))
			}
		})
	}
}

// verdict classifies the outcome of a check; an error that is not a pin
// failure (the chain did not verify at all) fails the test.
func verdict(t *testing.T, err error, failures int) enforcetest.Verdict {
	t.Helper()
	switch {
	case err != nil && errors.Is(err, enforce.ErrPinMismatch) && failures == 1:
		return enforcetest.Refuse
	case err != nil:
		t.Fatalf("refused, but not by pinning (%d failures recorded): %v", failures, err)
	case failures == 1:
		return enforcetest.ReportOnly
	case failures == 0:
		return enforcetest.Accept
	}
	t.Fatalf("%d failures recorded for one connection", failures)
	return 0
}
