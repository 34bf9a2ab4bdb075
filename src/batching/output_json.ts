// Turns one container output into the JSON text the frontend splices into its response, in the
// batching worker so the main thread only concatenates strings. Clipper's rule for strings: if the
// string is valid JSON it is nested as that value ("6.6" → 6.6, '{"a":1}' → {"a":1}), else it is
// a JSON string.

export function outputToJson(value: unknown): string {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? String(value) : JSON.stringify(String(value));
    case 'string':
      return isJsonText(value) ? value : JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'undefined':
      return 'null';
    default:
      if (value === null) return 'null';
      if (value instanceof Uint8Array)
        return JSON.stringify(Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64'));
      // The replacer reads the raw value (this[key]): Buffer.toJSON runs before a replacer sees v.
      return (
        JSON.stringify(value, function (this: Record<string, unknown>, key: string, v: unknown) {
          const raw = key === '' ? v : this[key];
          if (typeof raw === 'bigint') return Number(raw);
          if (raw instanceof Uint8Array) return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64');
          return v;
        }) ?? 'null'
      );
  }
}

function isJsonText(text: string): boolean {
  if (text.length === 0) return false;
  const c = text.charCodeAt(0);
  // Fast reject: JSON text starts with one of - 0-9 " [ { t f n or whitespace.
  const plausible =
    c === 45 ||
    (c >= 48 && c <= 57) ||
    c === 34 ||
    c === 91 ||
    c === 123 ||
    c === 116 ||
    c === 102 ||
    c === 110 ||
    c === 32 ||
    c === 9 ||
    c === 10 ||
    c === 13;
  if (!plausible) return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
