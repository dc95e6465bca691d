package console_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func newRecorder() *httptest.ResponseRecorder { return httptest.NewRecorder() }

func mustRequest(t testing.TB, method, path string) *http.Request {
	t.Helper()
	return httptest.NewRequest(method, path, nil)
}
