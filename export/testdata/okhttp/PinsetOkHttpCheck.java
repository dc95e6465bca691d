// PinsetOkHttpCheck loads the pins of a file written by `pinset export okhttp`
// exactly as printed (every .add("pattern", "sha256/...", ...) call, in order),
// builds OkHttp's CertificatePinner from them and connects to each URL given,
// with every host name resolved to 127.0.0.1 and the CAs of a PEM file as the
// only trust anchors. It prints one line per URL:
//
//   LABEL OK
//   LABEL FAIL ExceptionClass: first line of the message
//
// Usage: java PinsetOkHttpCheck pins.kt cas.pem LABEL=https://host:port/ ...
import java.io.FileInputStream;
import java.io.InputStream;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import okhttp3.CertificatePinner;
import okhttp3.OkHttpClient;
import okhttp3.Protocol;
import okhttp3.Request;
import okhttp3.Response;

public final class PinsetOkHttpCheck {
  private static final Pattern ADD =
      Pattern.compile("\\.add\\(\\s*\"([^\"]+)\",((?:\\s*\"[^\"]+\",)+)\\s*\\)");
  private static final Pattern LITERAL = Pattern.compile("\"([^\"]+)\"");

  public static void main(String[] args) throws Exception {
    String code = new String(Files.readAllBytes(Paths.get(args[0])), StandardCharsets.UTF_8);
    CertificatePinner.Builder pinner = new CertificatePinner.Builder();
    Matcher m = ADD.matcher(code);
    int entries = 0;
    while (m.find()) {
      List<String> pins = new ArrayList<>();
      Matcher l = LITERAL.matcher(m.group(2));
      while (l.find()) pins.add(l.group(1));
      pinner.add(m.group(1), pins.toArray(new String[0]));
      entries++;
    }
    System.out.println("loaded " + entries + " entries");

    KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
    ks.load(null, null);
    CertificateFactory cf = CertificateFactory.getInstance("X.509");
    int n = 0;
    try (InputStream in = new FileInputStream(args[1])) {
      for (Certificate c : cf.generateCertificates(in)) ks.setCertificateEntry("ca" + n++, c);
    }
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(ks);
    X509TrustManager tm = (X509TrustManager) tmf.getTrustManagers()[0];
    SSLContext ctx = SSLContext.getInstance("TLS");
    ctx.init(null, new TrustManager[] {tm}, null);

    OkHttpClient client = new OkHttpClient.Builder()
        .sslSocketFactory(ctx.getSocketFactory(), tm)
        .certificatePinner(pinner.build())
        // HTTP/1.1 only: no HTTP/2 connection coalescing between host names.
        .protocols(Collections.singletonList(Protocol.HTTP_1_1))
        .dns(host -> Collections.singletonList(InetAddress.getByName("127.0.0.1")))
        .connectTimeout(10, TimeUnit.SECONDS)
        .readTimeout(10, TimeUnit.SECONDS)
        .build();
    for (int i = 2; i < args.length; i++) {
      String label = args[i].substring(0, args[i].indexOf('='));
      String url = args[i].substring(args[i].indexOf('=') + 1);
      try (Response r = client.newCall(new Request.Builder().url(url).build()).execute()) {
        System.out.println(label + " OK " + r.code());
      } catch (Exception e) {
        String msg = String.valueOf(e.getMessage()).split("\n")[0];
        System.out.println(label + " FAIL " + e.getClass().getName() + ": " + msg);
      }
    }
  }
}
