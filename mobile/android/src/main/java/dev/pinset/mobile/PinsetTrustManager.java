package dev.pinset.mobile;

import android.net.http.X509TrustManagerExtensions;
import java.io.ByteArrayOutputStream;
import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.SSLSession;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * An X509TrustManager that lets the platform verify the server's chain, then asks pinset whether
 * the VERIFIED chain holds a pinned key for the host ({@code Client.checkServerTrusted} of the
 * gomobile-bound SDK: the decision of Go package enforce, with pinset's reports, report-only mode
 * and events). Android only (it needs android.jar); API level 24 (Android 7.0) and later.
 *
 * <pre>
 * X509TrustManager tm = new PinsetTrustManager(PinsetTrustManager.platformDefault(), client::checkServerTrusted);
 * SSLContext ctx = SSLContext.getInstance("TLS");
 * ctx.init(null, new TrustManager[] {tm}, null);
 * OkHttpClient ok = new OkHttpClient.Builder().sslSocketFactory(ctx.getSocketFactory(), tm).build();
 * </pre>
 *
 * <p>Which chain: the list returned by {@code X509TrustManagerExtensions.checkServerTrusted(chain,
 * authType, host)}, "the properly ordered chain used for verification"
 * (https://developer.android.com/reference/android/net/http/X509TrustManagerExtensions), never
 * {@code chain}, which is what the server sent: a server holding any certificate from a trusted CA
 * can append the genuine pinned certificate to it (CVE-2016-2402). The platform trust manager
 * applies the app's Network Security Config (trust anchors, its own pin-sets) as usual; pinset's
 * check comes on top and never replaces it.
 */
public final class PinsetTrustManager extends X509ExtendedTrustManager {
  /** pinset's check; {@code client::checkServerTrusted} of the gomobile-bound mobile.Client. */
  public interface Check {
    void checkServerTrusted(String host, long port, byte[] verifiedChain) throws Exception;
  }

  private final X509TrustManager platform;
  private final X509TrustManagerExtensions extensions;
  private final Check check;

  /**
   * The platform's default X509TrustManager: TrustManagerFactory.init((KeyStore) null) uses the
   * system trust store, as configured by the app's Network Security Config
   * (https://developer.android.com/reference/javax/net/ssl/TrustManagerFactory#init(java.security.KeyStore)).
   */
  public static X509TrustManager platformDefault() throws GeneralSecurityException {
    TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init((KeyStore) null);
    for (TrustManager tm : tmf.getTrustManagers()) {
      if (tm instanceof X509TrustManager) return (X509TrustManager) tm;
    }
    throw new GeneralSecurityException("pinset: the platform has no X509TrustManager");
  }

  /**
   * Wraps {@code platform}, which must be one TrustManagerFactory returned (the
   * X509TrustManagerExtensions constructor throws IllegalArgumentException for other types).
   */
  public PinsetTrustManager(X509TrustManager platform, Check check) {
    this.platform = platform;
    this.extensions = new X509TrustManagerExtensions(platform);
    this.check = check;
  }

  /**
   * Verifies {@code chain} for {@code host} with the platform, then checks pins on the verified
   * chain, which it returns. Public with this signature so that X509TrustManagerExtensions can wrap
   * this trust manager too (OkHttp's Android chain cleaner does): for a trust manager that is not
   * the platform's, AOSP's X509TrustManagerExtensions constructor looks up {@code
   * checkServerTrusted(X509Certificate[], String, String)} by reflection and throws
   * IllegalArgumentException without it.
   */
  public List<X509Certificate> checkServerTrusted(X509Certificate[] chain, String authType, String host)
      throws CertificateException {
    return verifyAndCheck(chain, authType, host, 0);
  }

  /** The TLS stack calls this with the socket; host and port come from its handshake session. */
  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
      throws CertificateException {
    // SSLSocket.getHandshakeSession: the session being negotiated, with the peer's host name as
    // the client connected to it (API 24;
    // https://developer.android.com/reference/javax/net/ssl/SSLSocket#getHandshakeSession()).
    SSLSession s = socket instanceof SSLSocket ? ((SSLSocket) socket).getHandshakeSession() : null;
    if (s == null) throw new CertificateException("pinset: no handshake session: cannot tell which host to check");
    verifyAndCheck(chain, authType, s.getPeerHost(), s.getPeerPort());
  }

  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
      throws CertificateException {
    // SSLEngine.getHandshakeSession (API 24;
    // https://developer.android.com/reference/javax/net/ssl/SSLEngine#getHandshakeSession()).
    SSLSession s = engine == null ? null : engine.getHandshakeSession();
    if (s == null) throw new CertificateException("pinset: no handshake session: cannot tell which host to check");
    verifyAndCheck(chain, authType, s.getPeerHost(), s.getPeerPort());
  }

  /** Without a socket or engine the host is unknown, and pins are per host: refused. */
  @Override
  public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
    throw new CertificateException(
        "pinset: checkServerTrusted without a host name; pins are checked per host (use a TLS stack that passes the socket or engine)");
  }

  private List<X509Certificate> verifyAndCheck(X509Certificate[] chain, String authType, String host, int port)
      throws CertificateException {
    if (host == null || host.isEmpty()) {
      throw new CertificateException("pinset: no host name: cannot tell which pins apply");
    }
    // The platform's verification: throws CertificateException when the chain does not verify for
    // host, and returns the chain it built, leaf first, ending at the trust anchor.
    List<X509Certificate> verified = extensions.checkServerTrusted(chain, authType, host);
    ByteArrayOutputStream der = new ByteArrayOutputStream();
    for (X509Certificate c : verified) {
      byte[] b = c.getEncoded();
      der.write(b, 0, b.length);
    }
    try {
      check.checkServerTrusted(host, port < 0 ? 0 : port, der.toByteArray());
    } catch (Exception e) {
      throw new CertificateException(e.getMessage(), e);
    }
    return verified;
  }

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
    platform.checkClientTrusted(chain, authType);
  }

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
      throws CertificateException {
    platform.checkClientTrusted(chain, authType);
  }

  @Override
  public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
      throws CertificateException {
    platform.checkClientTrusted(chain, authType);
  }

  @Override
  public X509Certificate[] getAcceptedIssuers() {
    return platform.getAcceptedIssuers();
  }
}
