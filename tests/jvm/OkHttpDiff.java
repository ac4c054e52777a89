// The JVM half of tests/config/test_config_okhttp_jvm.py: asks the real OkHttp (Debian's
// libokhttp-java 3.13.1) for its verdicts, all in one process.
//
// Compiled with Pinners.java, which the Python test writes around certpin's `okhttp` exports
// (each export is a Java statement declaring `certificatePinner`). Reads a spec file of
// tab-separated lines and prints one line per question:
//
//   trust  PEM_FILE                 a CA the client trusts (both the legitimate and the impostor CA)
//   chain  NAME  PEM_FILE  PORT     a chain (leaf first) and the port of the server that serves it
//   cell   ID  PINNER  HOST  CHAIN  -> "cell ID check pass|fail" from CertificatePinner.check(HOST,
//                                      the chain's certificates), then "cell ID request pass|fail"
//                                      from a real request to https://HOST:PORT/ (names resolve to
//                                      127.0.0.1), or "... error BASE64(message)"
//   edge   ID  B64(PATTERN)  B64(PIN)
//                                   -> "edge ID accepted B64(pattern) B64(canonicalHostname)
//                                      ALGORITHM B64(hash)" read from OkHttp's own Pin, or
//                                      "edge ID refused B64(exception)"
//   base64 ID  B64(TEXT)            -> "base64 ID bytes HEX" or "base64 ID null": what okio's
//                                      ByteString.decodeBase64 (OkHttp's pin decoder) makes of TEXT
//
// Text fields are base64 (UTF-8) so that any character reaches OkHttp unchanged.
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Field;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import okhttp3.CertificatePinner;
import okhttp3.ConnectionPool;
import okhttp3.OkHttpClient;
import okhttp3.Request;
import okhttp3.Response;

public final class OkHttpDiff {
  private static final Base64.Decoder B64D = Base64.getDecoder();
  private static final Base64.Encoder B64E = Base64.getEncoder();

  public static void main(String[] args) throws Exception {
    List<String> lines = Files.readAllLines(Paths.get(args[0]), StandardCharsets.UTF_8);
    CertificateFactory cf = CertificateFactory.getInstance("X.509");
    KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
    trust.load(null, null);
    Map<String, List<Certificate>> chains = new HashMap<>();
    Map<String, Integer> ports = new HashMap<>();
    OkHttpClient base = null;
    for (String line : lines) {
      String[] f = line.split("\t", -1);
      switch (f[0]) {
        case "trust":
          trust.setCertificateEntry("ca" + trust.size(), read(cf, f[1]).get(0));
          break;
        case "chain":
          chains.put(f[1], read(cf, f[2]));
          ports.put(f[1], Integer.parseInt(f[3]));
          break;
        case "cell":
          if (base == null) base = client(trust);
          cell(base, f[1], f[2], f[3], chains.get(f[4]), ports.get(f[4]));
          break;
        case "edge":
          edge(f[1], text(f[2]), text(f[3]));
          break;
        case "base64":
          okio.ByteString decoded = okio.ByteString.decodeBase64(text(f[2]));
          System.out.println("base64\t" + f[1] + "\t"
              + (decoded == null ? "null" : "bytes\t" + decoded.hex()));
          break;
        default:
          throw new IllegalArgumentException("unknown spec line: " + f[0]);
      }
    }
  }

  private static String text(String b64) {
    return new String(B64D.decode(b64), StandardCharsets.UTF_8);
  }

  private static String b64(String s) {
    return B64E.encodeToString(s.getBytes(StandardCharsets.UTF_8));
  }

  private static List<Certificate> read(CertificateFactory cf, String path) throws Exception {
    try (InputStream in = new FileInputStream(path)) {
      return new ArrayList<>(cf.generateCertificates(in));
    }
  }

  /** A client trusting exactly the given CAs, resolving every name to 127.0.0.1. */
  private static OkHttpClient client(KeyStore trust) throws Exception {
    TrustManagerFactory tmf =
        TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(trust);
    X509TrustManager tm = (X509TrustManager) tmf.getTrustManagers()[0];
    SSLContext ctx = SSLContext.getInstance("TLS");
    ctx.init(null, new TrustManager[] {tm}, null);
    return new OkHttpClient.Builder()
        .sslSocketFactory(ctx.getSocketFactory(), tm)
        .dns(host -> Collections.singletonList(InetAddress.getByName("127.0.0.1")))
        .connectTimeout(10, TimeUnit.SECONDS)
        .readTimeout(10, TimeUnit.SECONDS)
        .retryOnConnectionFailure(false)
        .build();
  }

  private static void cell(OkHttpClient base, String id, String pinnerName, String host,
      List<Certificate> chain, int port) {
    CertificatePinner pinner = Pinners.get(pinnerName);
    String check;
    try {
      pinner.check(host, chain);
      check = "pass";
    } catch (SSLPeerUnverifiedException e) {
      check = "fail";
    }
    System.out.println("cell\t" + id + "\tcheck\t" + check);
    // a fresh pool per request: no connection is ever reused across cells
    OkHttpClient client = base.newBuilder()
        .certificatePinner(pinner)
        .connectionPool(new ConnectionPool())
        .build();
    Request request = new Request.Builder().url("https://" + host + ":" + port + "/").build();
    String verdict;
    try (Response response = client.newCall(request).execute()) {
      verdict = response.code() == 200 ? "pass" : "error\t" + b64("HTTP " + response.code());
    } catch (SSLPeerUnverifiedException e) {
      String m = String.valueOf(e.getMessage());
      verdict = m.startsWith("Certificate pinning failure!") ? "fail" : "error\t" + b64(m);
    } catch (IOException e) {
      verdict = "error\t" + b64(e.toString());
    }
    client.connectionPool().evictAll();  // close it: the server's thread ends with it
    System.out.println("cell\t" + id + "\trequest\t" + verdict);
  }

  private static void edge(String id, String pattern, String pin) throws Exception {
    CertificatePinner pinner;
    try {
      pinner = new CertificatePinner.Builder().add(pattern, pin).build();
    } catch (RuntimeException e) {
      System.out.println("edge\t" + id + "\trefused\t" + b64(e.toString()));
      return;
    }
    // OkHttp 3.13's Pin is package-private: read what it made of the input by reflection
    Field pinsField = CertificatePinner.class.getDeclaredField("pins");
    pinsField.setAccessible(true);
    Object p = ((Set<?>) pinsField.get(pinner)).iterator().next();
    System.out.println("edge\t" + id + "\taccepted\t" + b64((String) field(p, "pattern"))
        + "\t" + b64((String) field(p, "canonicalHostname"))
        + "\t" + field(p, "hashAlgorithm")
        + "\t" + ((okio.ByteString) field(p, "hash")).base64());
  }

  private static Object field(Object o, String name) throws Exception {
    Field f = o.getClass().getDeclaredField(name);
    f.setAccessible(true);
    return f.get(o);
  }
}
