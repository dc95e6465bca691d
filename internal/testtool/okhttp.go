package testtool

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// OkHttpJVM is a JDK and Debian's OkHttp 3 (libokhttp-java) for tests that
// run OkHttp itself.
type OkHttpJVM struct {
	Javac, Java string
	// Classpath holds okhttp.jar and okio.jar.
	Classpath string
}

// NeedOkHttpJVM finds javac, java and the OkHttp jars, or stops the test
// as Need does (skipped locally, failed in CI).
func NeedOkHttpJVM(t testing.TB) OkHttpJVM {
	t.Helper()
	const jdk = "apt-get install -y openjdk-17-jdk-headless"
	j := OkHttpJVM{Javac: Need(t, "javac", jdk), Java: Need(t, "java", jdk)}
	var jars []string
	for _, name := range []string{"okhttp.jar", "okio.jar"} {
		jars = append(jars, NeedFile(t, filepath.Join("/usr/share/java", name), "apt-get install -y libokhttp-java"))
	}
	j.Classpath = strings.Join(jars, string(os.PathListSeparator))
	return j
}
