package dev.pinset.mobile;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import okhttp3.CertificatePinner;
import okhttp3.ConnectionPool;
import okhttp3.OkHttpClient;

/**
 * Keeps an {@link OkHttpClient} whose {@link CertificatePinner} holds the pins pinset has in force,
 * and rebuilds it when they change.
 *
 * <p>The pins come as the JSON of {@code Client.okHttpPinsJSON(version)} (gomobile-bound pinset
 * SDK), which is exactly what {@code pinset export okhttp --json} prints: one {@code
 * CertificatePinner.Builder.add(pattern, "sha256/...")} call per entry, with the okhttp format's
 * rules (docs/export.md). On the SDK's "updated" event with a new manifest version, {@link
 * #onEvent} builds a new client from the base client with a new CertificatePinner and a new
 * connection pool, and evicts the old pool (ConnectionPool.evictAll: "Close and remove all idle
 * connections in the pool", https://square.github.io/okhttp/3.x/okhttp/okhttp3/ConnectionPool.html),
 * so no connection made under the old pins is reused: OkHttp checks pins when it connects
 * (CertificatePinner.check in RealConnection.connectTls), not when it reuses a pooled connection.
 *
 * <p>OkHttp's pinner has no report-only mode and sends no reports; those policies are left out of
 * the JSON with a warning ({@link #warnings}). To keep them, and to have failures reported, use
 * {@code PinsetTrustManager}, which calls pinset's own check.
 *
 * <p>This class uses OkHttp's public API only (3.2.0 and later; compiled and tested against OkHttp
 * 3.13.1 on JDK 17) and no Android API, so it runs on a plain JVM too.
 */
public final class PinsetOkHttp {
  /** Where the pins JSON comes from; on Android {@code () -> client.okHttpPinsJSON(4)}. */
  public interface PinsSource {
    String pinsJson() throws Exception;
  }

  /** The most entries a pins document may have. */
  public static final int MAX_ENTRIES = 4096;

  private final OkHttpClient base;
  private final PinsSource source;
  private final Object lock = new Object();
  private volatile OkHttpClient current;
  private volatile Pins pins;

  /**
   * Builds the first client: {@code base} (its timeouts, interceptors, socket factory...) with the
   * pins of {@code source}. Throws when the pins cannot be read or this OkHttp cannot apply them.
   */
  public PinsetOkHttp(OkHttpClient base, PinsSource source) throws Exception {
    this.base = base;
    this.source = source;
    rebuild();
  }

  /** The client to use now. Take it again for each call (or after each rebuild). */
  public OkHttpClient client() {
    return current;
  }

  /** The manifest version the current client's pins come from. */
  public long manifestVersion() {
    return pins.manifestVersion;
  }

  /** Where OkHttp behaves differently from pinset for these pins (the export's warnings). */
  public List<String> warnings() {
    return pins.warnings;
  }

  /**
   * Handles an SDK event: on "updated" with a manifest version other than the current one,
   * rebuilds. Returns true when it rebuilt. Call it off the SDK's callback thread (an executor):
   * it calls back into the SDK.
   */
  public boolean onEvent(String kind, long manifestVersion) throws Exception {
    if (!"updated".equals(kind) || manifestVersion == pins.manifestVersion) return false;
    rebuild();
    return true;
  }

  /**
   * Reads the pins again and replaces the client: new CertificatePinner, new connection pool; the
   * old pool's idle connections are closed. On error the current client stays.
   */
  public void rebuild() throws Exception {
    synchronized (lock) {
      Pins next = parse(source.pinsJson());
      OkHttpClient c =
          base.newBuilder()
              .certificatePinner(next.pinner)
              .connectionPool(new ConnectionPool())
              .build();
      OkHttpClient prev = current;
      current = c;
      pins = next;
      if (prev != null) prev.connectionPool().evictAll();
    }
  }

  /** A parsed pins document. */
  public static final class Pins {
    public final CertificatePinner pinner;
    public final long manifestVersion;
    public final int okhttpVersion;
    public final int entries;
    public final List<String> warnings;

    Pins(CertificatePinner p, long mv, int ov, int n, List<String> w) {
      pinner = p;
      manifestVersion = mv;
      okhttpVersion = ov;
      entries = n;
      warnings = Collections.unmodifiableList(w);
    }
  }

  /**
   * Parses a pins document (format "okhttp") into a CertificatePinner. Refuses "**." patterns on
   * an OkHttp older than 4.3.0, which would read them as literal host names and pin nothing
   * (CertificatePinner.java of 3.13.1, Pin.matches: only "*." is a wildcard); ask for the pins of
   * OkHttp version 3 there.
   */
  public static Pins parse(String json) {
    Object root = Json.parse(json);
    if (!(root instanceof Map)) throw new IllegalArgumentException("pinset: pins JSON is not an object");
    Map<?, ?> doc = (Map<?, ?>) root;
    if (!"okhttp".equals(doc.get("format"))) {
      throw new IllegalArgumentException("pinset: pins JSON has format " + doc.get("format") + ", want okhttp");
    }
    int okhttpVersion = (int) number(doc, "okhttp_version");
    long manifestVersion = doc.containsKey("manifest_version") ? (long) number(doc, "manifest_version") : 0;
    Object entries = doc.get("pins");
    if (!(entries instanceof List) || ((List<?>) entries).isEmpty()) {
      throw new IllegalArgumentException("pinset: pins JSON has no pins");
    }
    List<?> list = (List<?>) entries;
    if (list.size() > MAX_ENTRIES) {
      throw new IllegalArgumentException("pinset: " + list.size() + " pin entries, more than " + MAX_ENTRIES);
    }
    CertificatePinner.Builder b = new CertificatePinner.Builder();
    boolean anyDepth = false;
    for (Object o : list) {
      if (!(o instanceof Map)) throw new IllegalArgumentException("pinset: a pin entry is not an object");
      Map<?, ?> e = (Map<?, ?>) o;
      Object pattern = e.get("pattern");
      Object ps = e.get("pins");
      if (!(pattern instanceof String) || !(ps instanceof List) || ((List<?>) ps).isEmpty()) {
        throw new IllegalArgumentException("pinset: a pin entry needs a pattern and pins");
      }
      List<String> pinList = new ArrayList<>();
      for (Object p : (List<?>) ps) {
        if (!(p instanceof String) || !((String) p).startsWith("sha256/")) {
          throw new IllegalArgumentException("pinset: pin " + p + " of " + pattern + " is not sha256/");
        }
        pinList.add((String) p);
      }
      anyDepth |= ((String) pattern).startsWith("**.");
      // add() validates the pattern and the base64 of each pin, throwing IllegalArgumentException.
      b.add((String) pattern, pinList.toArray(new String[0]));
    }
    if (anyDepth && !readsAnyDepth(runtimeVersion())) {
      throw new IllegalStateException(
          "pinset: these pins use \"**.\" patterns, which OkHttp "
              + runtimeVersion()
              + " reads as literal host names (pinning nothing); OkHttp 4.3.0 reads them."
              + " Ask for the pins of OkHttp version 3 (okHttpPinsJSON(3), --okhttp-version 3)");
    }
    List<String> warnings = new ArrayList<>();
    Object ws = doc.get("warnings");
    if (ws instanceof List) {
      for (Object w : (List<?>) ws) {
        if (w instanceof Map) {
          Map<?, ?> m = (Map<?, ?>) w;
          Object pat = m.get("pattern");
          warnings.add((pat != null ? pat + ": " : "") + m.get("message"));
        }
      }
    }
    return new Pins(b.build(), manifestVersion, okhttpVersion, list.size(), warnings);
  }

  private static double number(Map<?, ?> m, String key) {
    Object v = m.get(key);
    if (!(v instanceof Double)) throw new IllegalArgumentException("pinset: pins JSON lacks the number " + key);
    return (Double) v;
  }

  /**
   * The OkHttp version on the class path, or "unknown": okhttp3.OkHttp.VERSION (4.7.0 and later),
   * else okhttp3.internal.Version's userAgent (a method in 3.x, a constant in 4.0 to 4.6).
   */
  static String runtimeVersion() {
    try {
      return (String) Class.forName("okhttp3.OkHttp").getField("VERSION").get(null);
    } catch (ReflectiveOperationException | RuntimeException e) {
      // before 4.7.0
    }
    try {
      Class<?> v = Class.forName("okhttp3.internal.Version");
      try {
        return ((String) v.getMethod("userAgent").invoke(null)).replace("okhttp/", "");
      } catch (NoSuchMethodException e) {
        return ((String) v.getField("userAgent").get(null)).replace("okhttp/", "");
      }
    } catch (ReflectiveOperationException | RuntimeException e) {
      return "unknown";
    }
  }

  /** Whether an OkHttp version reads "**." patterns (4.3.0 and later); unknown means no. */
  static boolean readsAnyDepth(String version) {
    String[] f = version.split("[.-]");
    try {
      int major = Integer.parseInt(f[0]);
      int minor = f.length > 1 ? Integer.parseInt(f[1]) : 0;
      return major > 4 || (major == 4 && minor >= 3);
    } catch (NumberFormatException e) {
      return false;
    }
  }
}
