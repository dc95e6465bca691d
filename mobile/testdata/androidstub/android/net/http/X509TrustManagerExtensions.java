package android.net.http;

import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.X509TrustManager;

/**
 * Compile-time stand-in for Android's class, with the public signatures of
 * https://developer.android.com/reference/android/net/http/X509TrustManagerExtensions
 * (API 17), so that PinsetTrustManager is type-checked on a plain JDK. It is
 * never run: the real class needs android.jar and a device.
 */
public class X509TrustManagerExtensions {
  public X509TrustManagerExtensions(X509TrustManager tm) {
    throw new UnsupportedOperationException("compile-time stub");
  }

  public List<X509Certificate> checkServerTrusted(X509Certificate[] chain, String authType, String host)
      throws CertificateException {
    throw new UnsupportedOperationException("compile-time stub");
  }
}
