package witness_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"pinset.dev/pinset/tlog"
	"pinset.dev/pinset/witness"
)

// FuzzAddCheckpoint: whatever a log sends, the witness answers with one
// of the C2SP tlog-witness statuses and never panics; what it cosigns is
// a checkpoint signed by the log, at least as large as what it held.
// Seeds: the request of every witness vector.
func FuzzAddCheckpoint(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(vectorDir, "*.txt"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		_, secs, err := parseWVector(b)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(secs["request"])
	}
	vs := generateWitnessVectors(f)
	logKey := vs[0].logKey
	v, err := tlog.NewVerifiers(logKey, nil, 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		w, err := witness.New(witness.Config{Cosigner: vectorCosigner(t), Logs: []string{logKey}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = w.AddCheckpoint(body)
		if err != nil {
			switch witness.Status(err) {
			case http.StatusBadRequest, http.StatusForbidden, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity:
				return
			default:
				t.Fatalf("status %d for %v", witness.Status(err), err)
			}
		}
		req, err := tlog.ParseAddCheckpoint(body)
		if err != nil {
			t.Fatalf("cosigned a body that does not parse: %v", err)
		}
		c, err := v.Open(req.Checkpoint)
		if err != nil {
			t.Fatalf("cosigned a checkpoint the log did not sign: %v", err)
		}
		if got := w.Latest(c.Origin); got != c {
			t.Fatalf("holds %+v after cosigning %+v", got, c)
		}
	})
}
