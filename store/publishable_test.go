package store

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// publishable never reads the clock: a document without CreatedAt is
// refused (the store used to stamp it with time.Now), one not above the
// version held is ErrConflict, and otherwise its own time is kept.
func TestPublishableNeedsCreatedAt(t *testing.T) {
	at := time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)
	if _, err := publishable("root", Document{App: "shop", Version: 1}, 0); err == nil || !strings.Contains(err.Error(), "no publication time") {
		t.Errorf("no CreatedAt: %v", err)
	}
	if _, err := publishable("manifest", Document{App: "shop", Version: 2, CreatedAt: at}, 2); !errors.Is(err, ErrConflict) {
		t.Errorf("version not above the one held: %v", err)
	}
	got, err := publishable("manifest", Document{App: "shop", Version: 3, CreatedAt: at}, 2)
	if err != nil || !got.Equal(at) {
		t.Errorf("got %v, %v; want %v", got, err, at)
	}
}
