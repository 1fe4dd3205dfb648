/**
 * Minimal .env parser compatible with the common dotenv syntax:
 *   KEY=value, export KEY=value, KEY="quoted # not a comment", KEY='single',
 *   inline comments after unquoted values, blank lines and # comments.
 * Double-quoted values support \n escapes. Later keys override earlier ones.
 */
export function parseDotenv(source: string): Map<string, string> {
  const result = new Map<string, string>();
  const lines = source.replace(/\r\n?/g, "\n").split("\n");

  for (const rawLine of lines) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#")) continue;

    const withoutExport = line.startsWith("export ") ? line.slice(7).trimStart() : line;
    const eq = withoutExport.indexOf("=");
    if (eq <= 0) continue;

    const key = withoutExport.slice(0, eq).trim();
    if (!/^[A-Za-z_][A-Za-z0-9_.-]*$/.test(key)) continue;

    let value = withoutExport.slice(eq + 1).trim();
    const quote = value[0];
    if ((quote === '"' || quote === "'") && value.lastIndexOf(quote) > 0) {
      value = value.slice(1, value.lastIndexOf(quote));
      if (quote === '"') value = value.replace(/\\n/g, "\n");
    } else {
      const hash = value.search(/\s#/);
      if (hash !== -1) value = value.slice(0, hash).trimEnd();
    }

    result.set(key, value);
  }

  return result;
}
