package trust_test

import (
	"errors"
	"testing"

	"pinset.dev/pinset/trust"
	"pinset.dev/pinset/trust/trusttest"
)

// OlderRoot is the one decision that an offered root is older than the
// trusted one, made before signatures (which may no longer verify).
func TestOlderRoot(t *testing.T) {
	repo := trusttest.New("shop", 1)
	v1 := repo.Root()
	repo.RotateRootKeys(3, 2) // v2 under new keys: v1 no longer verifies under them
	st, err := trust.NewState(repo.Root(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var ve *trust.VersionError
	if err := st.OlderRoot(v1); !errors.Is(err, trust.ErrRollback) || !errors.As(err, &ve) || ve.Got != 1 || ve.Trusted != 2 {
		t.Fatalf("OlderRoot(v1) under v2 = %v", err)
	}
	if err := st.OlderRoot(repo.Root()); err != nil {
		t.Fatalf("OlderRoot(trusted root) = %v", err)
	}
	other := trusttest.New("other", 2)
	if err := st.OlderRoot(other.Root()); err != nil {
		t.Fatalf("OlderRoot(another app's root) = %v; UpdateRoot decides that one", err)
	}
	if err := st.OlderRoot([]byte("not a root")); err != nil {
		t.Fatalf("OlderRoot(garbage) = %v; UpdateRoot decides that one", err)
	}
}

func TestValidAppID(t *testing.T) {
	for s, want := range map[string]bool{"com.example.app": true, "a_b-c.D9": true, "": false, "a/b": false, "ä": false, string(make([]byte, trust.MaxAppIDLen+1)): false} {
		if got := trust.ValidAppID(s); got != want {
			t.Errorf("ValidAppID(%q) = %v, want %v", s, got, want)
		}
	}
}
