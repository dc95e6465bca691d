package enforce

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
)

func TestCheckBase(t *testing.T) {
	for _, c := range []struct {
		base *tls.Config
		want error
	}{
		{nil, nil},
		{&tls.Config{}, nil},
		{&tls.Config{InsecureSkipVerify: true}, ErrInsecureBase},
	} {
		if err := CheckBase(c.base); !errors.Is(err, c.want) || (c.want == nil && err != nil) {
			t.Errorf("CheckBase(%+v) = %v, want %v", c.base, err, c.want)
		}
	}
}

// DialTLSContext refuses an insecure base before it dials anything.
func TestDialTLSContextRefusesInsecureBaseBeforeDialling(t *testing.T) {
	dialled := false
	dial := New(Static(nil), Options{}).DialTLSContextWith(&tls.Config{InsecureSkipVerify: true}, func(context.Context, string, string) (net.Conn, error) {
		dialled = true
		return nil, errors.New("dialled")
	})
	if _, err := dial(context.Background(), "tcp", "127.0.0.1:443"); !errors.Is(err, ErrInsecureBase) || dialled {
		t.Fatalf("err = %v, dialled = %v; want ErrInsecureBase without dialling", err, dialled)
	}
}
