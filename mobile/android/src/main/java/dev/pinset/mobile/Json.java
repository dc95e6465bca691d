package dev.pinset.mobile;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small strict JSON reader for the pins documents of pinset's mobile SDK
 * ({@code Client.okHttpPinsJSON}, {@code pinset export okhttp --json}), so
 * that {@link PinsetOkHttp} runs on a plain JVM as well as on Android
 * without a JSON library. Objects become {@code Map<String, Object>},
 * arrays {@code List<Object>}, numbers {@code Double}, and true, false and
 * null their Java values. Limits: {@link #MAX_CHARS} characters, depth
 * {@link #MAX_DEPTH}; duplicate keys and trailing text are errors.
 */
final class Json {
  static final int MAX_CHARS = 1 << 20;
  static final int MAX_DEPTH = 16;

  private final String s;
  private int i;

  private Json(String s) {
    this.s = s;
  }

  static Object parse(String text) {
    if (text == null) throw new IllegalArgumentException("pinset: no JSON");
    if (text.length() > MAX_CHARS) {
      throw new IllegalArgumentException("pinset: JSON of " + text.length() + " characters, more than " + MAX_CHARS);
    }
    Json p = new Json(text);
    Object v = p.value(0);
    p.space();
    if (p.i != text.length()) throw p.error("text after the JSON value");
    return v;
  }

  private IllegalArgumentException error(String what) {
    return new IllegalArgumentException("pinset: bad JSON at offset " + i + ": " + what);
  }

  private void space() {
    while (i < s.length()) {
      char c = s.charAt(i);
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
      i++;
    }
  }

  private Object value(int depth) {
    if (depth > MAX_DEPTH) throw error("nested deeper than " + MAX_DEPTH);
    space();
    if (i >= s.length()) throw error("unexpected end");
    char c = s.charAt(i);
    switch (c) {
      case '{': return object(depth);
      case '[': return array(depth);
      case '"': return string();
      case 't': return literal("true", Boolean.TRUE);
      case 'f': return literal("false", Boolean.FALSE);
      case 'n': return literal("null", null);
      default:
        if (c == '-' || (c >= '0' && c <= '9')) return number();
        throw error("unexpected '" + c + "'");
    }
  }

  private Object literal(String word, Object v) {
    if (!s.startsWith(word, i)) throw error("expected " + word);
    i += word.length();
    return v;
  }

  private Double number() {
    int start = i;
    while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) i++;
    try {
      return Double.valueOf(s.substring(start, i));
    } catch (NumberFormatException e) {
      throw error("bad number");
    }
  }

  private String string() {
    i++; // opening quote
    StringBuilder b = new StringBuilder();
    while (true) {
      if (i >= s.length()) throw error("unterminated string");
      char c = s.charAt(i++);
      if (c == '"') return b.toString();
      if (c < 0x20) throw error("control character in string");
      if (c != '\\') {
        b.append(c);
        continue;
      }
      if (i >= s.length()) throw error("unterminated escape");
      char e = s.charAt(i++);
      switch (e) {
        case '"': case '\\': case '/': b.append(e); break;
        case 'b': b.append('\b'); break;
        case 'f': b.append('\f'); break;
        case 'n': b.append('\n'); break;
        case 'r': b.append('\r'); break;
        case 't': b.append('\t'); break;
        case 'u':
          if (i + 4 > s.length()) throw error("short \\u escape");
          try {
            b.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
          } catch (NumberFormatException x) {
            throw error("bad \\u escape");
          }
          i += 4;
          break;
        default: throw error("bad escape \\" + e);
      }
    }
  }

  private Map<String, Object> object(int depth) {
    i++;
    Map<String, Object> m = new LinkedHashMap<>();
    space();
    if (i < s.length() && s.charAt(i) == '}') {
      i++;
      return m;
    }
    while (true) {
      space();
      if (i >= s.length() || s.charAt(i) != '"') throw error("expected a key");
      String k = string();
      space();
      if (i >= s.length() || s.charAt(i) != ':') throw error("expected ':'");
      i++;
      if (m.containsKey(k)) throw error("duplicate key \"" + k + "\"");
      m.put(k, value(depth + 1));
      space();
      if (i >= s.length()) throw error("unterminated object");
      char c = s.charAt(i++);
      if (c == '}') return m;
      if (c != ',') throw error("expected ',' or '}'");
    }
  }

  private List<Object> array(int depth) {
    i++;
    List<Object> l = new ArrayList<>();
    space();
    if (i < s.length() && s.charAt(i) == ']') {
      i++;
      return l;
    }
    while (true) {
      l.add(value(depth + 1));
      space();
      if (i >= s.length()) throw error("unterminated array");
      char c = s.charAt(i++);
      if (c == ']') return l;
      if (c != ',') throw error("expected ',' or ']'");
    }
  }
}
