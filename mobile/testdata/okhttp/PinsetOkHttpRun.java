// PinsetOkHttpRun drives dev.pinset.mobile.PinsetOkHttp on the JVM for
// mobile's TestPinsetOkHttpJVM. The base OkHttpClient trusts the CAs of a PEM
// file only, resolves every name to 127.0.0.1 and speaks HTTP/1.1 (no HTTP/2
// connection coalescing between names). Commands, in order:
//
//   pins=FILE          read pins from FILE from now on (the first one builds the client)
//   updated=VERSION    deliver the SDK's "updated" event for a manifest version
//   try=FILE           parse FILE as pins without using it; print what happens
//   LABEL=URL          GET URL with the current client
//
// It prints one line per command: "loaded N entries v7", "rebuilt true v2",
// "try OK" / "try REFUSED Exception: message", "LABEL OK 200" or
// "LABEL FAIL ExceptionClass: first line of the message".
//
// Usage: java PinsetOkHttpRun cas.pem COMMAND...
import dev.pinset.mobile.PinsetOkHttp;
import java.io.FileInputStream;
import java.io.InputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.Collections;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import okhttp3.OkHttpClient;
import okhttp3.Protocol;
import okhttp3.Request;
import okhttp3.Response;

public final class PinsetOkHttpRun {
  private static volatile String pinsFile;

  private static String read(String f) throws Exception {
    return new String(Files.readAllBytes(Paths.get(f)), StandardCharsets.UTF_8);
  }

  public static void main(String[] args) throws Exception {
    KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
    ks.load(null, null);
    CertificateFactory cf = CertificateFactory.getInstance("X.509");
    int n = 0;
    try (InputStream in = new FileInputStream(args[0])) {
      for (Certificate c : cf.generateCertificates(in)) ks.setCertificateEntry("ca" + n++, c);
    }
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(ks);
    X509TrustManager tm = (X509TrustManager) tmf.getTrustManagers()[0];
    SSLContext ctx = SSLContext.getInstance("TLS");
    ctx.init(null, new TrustManager[] {tm}, null);
    OkHttpClient base = new OkHttpClient.Builder()
        .sslSocketFactory(ctx.getSocketFactory(), tm)
        .protocols(Collections.singletonList(Protocol.HTTP_1_1))
        .dns(host -> Collections.singletonList(InetAddress.getByName("127.0.0.1")))
        .connectTimeout(10, TimeUnit.SECONDS)
        .readTimeout(10, TimeUnit.SECONDS)
        .build();

    PinsetOkHttp pinned = null;
    for (int i = 1; i < args.length; i++) {
      String key = args[i].substring(0, args[i].indexOf('='));
      String val = args[i].substring(args[i].indexOf('=') + 1);
      switch (key) {
        case "pins":
          pinsFile = val;
          if (pinned == null) {
            pinned = new PinsetOkHttp(base, () -> read(pinsFile));
            System.out.println("loaded " + PinsetOkHttp.parse(read(pinsFile)).entries + " entries v" + pinned.manifestVersion());
          }
          break;
        case "updated":
          boolean rebuilt = pinned.onEvent("updated", Long.parseLong(val));
          System.out.println("rebuilt " + rebuilt + " v" + pinned.manifestVersion());
          break;
        case "try":
          try {
            PinsetOkHttp.parse(read(val));
            System.out.println("try OK");
          } catch (Exception e) {
            System.out.println("try REFUSED " + e.getClass().getName() + ": " + e.getMessage());
          }
          break;
        default:
          try (Response r = pinned.client().newCall(new Request.Builder().url(val).build()).execute()) {
            System.out.println(key + " OK " + r.code());
          } catch (Exception e) {
            String msg = String.valueOf(e.getMessage()).split("\n")[0];
            System.out.println(key + " FAIL " + e.getClass().getName() + ": " + msg);
          }
      }
    }
  }
}
