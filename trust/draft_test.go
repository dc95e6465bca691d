package trust_test

import (
	"errors"
	"testing"
	"time"

	"pinset.dev/pinset/policy"
	"pinset.dev/pinset/trust"
	"pinset.dev/pinset/trust/trusttest"
)

func TestNewRoot(t *testing.T) {
	repo := trusttest.New("com.example.app", 7)
	ks := repo.NewKeys(4)
	a, b, c, p := ks[0].Key, ks[1].Key, ks[2].Key, ks[3].Key
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	limit, zero := 90*24*time.Hour, time.Duration(0)
	first := trust.RootDraft{AppID: "com.example.app", Lifetime: 365 * 24 * time.Hour, RootKeys: []*trust.Key{a, b, c}, PinsKeys: []*trust.Key{p}, PinsThreshold: 1, MaxManifestLifetime: &limit, Log: &trust.Log{Key: trusttest.NewLog("com.example.app", 9).Signer.VerifierKey(), Witnesses: []string{}}}
	v1, err := trust.NewRoot(first, now)
	if err != nil {
		t.Fatal(err)
	}
	if v1.Version != 1 || v1.RootRole.Threshold != 2 || !v1.Expires.Equal(now.Add(first.Lifetime)) || v1.MaxManifestLifetime != limit || len(v1.Keys) != 4 {
		t.Fatalf("v1 = version %d, root threshold %d, expires %s, limit %s, %d keys", v1.Version, v1.RootRole.Threshold, v1.Expires, v1.MaxManifestLifetime, len(v1.Keys))
	}

	// The next root takes the app, version, limit and log of the previous one.
	next := trust.RootDraft{Previous: v1, Lifetime: time.Hour, RootKeys: []*trust.Key{a}, PinsKeys: []*trust.Key{a}, PinsThreshold: 1}
	v2, err := trust.NewRoot(next, now)
	if err != nil {
		t.Fatal(err)
	}
	if v2.AppID != v1.AppID || v2.Version != 2 || v2.MaxManifestLifetime != limit || v2.Log != v1.Log || len(v2.Keys) != 1 || v2.RootRole.Threshold != 1 {
		t.Fatalf("v2 = %+v", v2)
	}
	next.MaxManifestLifetime = &zero
	if v2, err = trust.NewRoot(next, now); err != nil || v2.MaxManifestLifetime != 0 {
		t.Fatalf("limit removed: %v, %v", v2, err)
	}

	for name, tc := range map[string]struct {
		edit func(*trust.RootDraft)
		want error
	}{
		"another app":   {func(d *trust.RootDraft) { d.AppID = "com.example.other" }, trust.ErrWrongApp},
		"version gap":   {func(d *trust.RootDraft) { d.Version = 3 }, trust.ErrRootVersionGap},
		"same version":  {func(d *trust.RootDraft) { d.Version = 1 }, trust.ErrRootVersionGap},
		"no pins key":   {func(d *trust.RootDraft) { d.PinsKeys = nil }, trust.ErrInvalidDocument},
		"zero lifetime": {func(d *trust.RootDraft) { d.Lifetime = 0 }, trust.ErrInvalidDocument},
		"threshold":     {func(d *trust.RootDraft) { d.RootThreshold = 2 }, trust.ErrInvalidDocument},
	} {
		d := next
		d.MaxManifestLifetime = nil
		tc.edit(&d)
		if _, err := trust.NewRoot(d, now); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
}

func TestNewRootWitnessThreshold(t *testing.T) {
	repo := trusttest.New("com.example.app", 8)
	k := repo.NewKey().Key
	w1, w2 := trusttest.NewLog("w1", 1).Signer.VerifierKey(), trusttest.NewLog("w2", 2).Signer.VerifierKey()
	log := &trust.Log{Key: trusttest.NewLog("com.example.app", 9).Signer.VerifierKey(), Witnesses: []string{w1, w2}}
	r, err := trust.NewRoot(trust.RootDraft{AppID: "com.example.app", Lifetime: time.Hour, RootKeys: []*trust.Key{k}, PinsKeys: []*trust.Key{k}, PinsThreshold: 1, Log: log}, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if r.Log.WitnessThreshold != 2 || log.WitnessThreshold != 0 {
		t.Fatalf("witness threshold %d (draft's %d), want every witness and the draft unchanged", r.Log.WitnessThreshold, log.WitnessThreshold)
	}
}

func TestNewManifest(t *testing.T) {
	repo := trusttest.New("com.example.app", 9)
	root := repo.RootDoc(1)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("east", 3600))
	hosts := trusttest.Hosts(2)
	m, err := trust.NewManifest(root, 4, hosts, now, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if m.AppID != root.AppID || m.RootVersion != root.Version || m.Version != 4 || m.IssuedAt != now.UTC() || !m.Expires.Equal(now.Add(30*24*time.Hour)) || len(m.Hosts) != 2 {
		t.Fatalf("manifest %+v", m)
	}
	oneHost := trusttest.Hosts(1)
	oneHost[0].Pins = oneHost[0].Pins[:1]
	if _, err := trust.NewManifest(root, 4, oneHost, now, time.Hour); !errors.Is(err, policy.ErrNoBackupPin) || !errors.Is(err, trust.ErrInvalidDocument) {
		t.Errorf("one pin on an enforced host: %v, want ErrNoBackupPin", err)
	}
	if _, err := trust.NewManifest(root, 4, hosts, now, 0); !errors.Is(err, trust.ErrInvalidDocument) {
		t.Errorf("zero lifetime: %v", err)
	}
	if _, err := trust.NewManifest(root, 0, hosts, now, time.Hour); !errors.Is(err, trust.ErrInvalidDocument) {
		t.Errorf("version 0: %v", err)
	}
}
