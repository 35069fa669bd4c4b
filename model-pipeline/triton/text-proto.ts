/**
 * Protocol-buffer text format, the format of Triton's `config.pbtxt`: just enough of it to write
 * a model configuration. A message is a plain object; enum values are {@link EnumValue}s so they
 * are written bare (`kind: KIND_GPU`) and strings quoted (`name: "demo"`).
 */

/** An enum value, written without quotes. */
export class EnumValue {
  constructor(readonly name: string) {
    if (!/^[A-Z][A-Z0-9_]*$/.test(name)) throw new Error(`not an enum value name: ${JSON.stringify(name)}`);
  }
}

/** A scalar field value. */
export type TextScalar = string | number | boolean | EnumValue;
/** A field value: a scalar, a message, or a repeated field of either. */
export type TextValue = TextScalar | TextMessage | readonly TextScalar[] | readonly TextMessage[];
/** A message: field name → value; undefined fields are left out. */
export interface TextMessage {
  readonly [field: string]: TextValue | undefined;
}

/** Writes a message in text format, two spaces per nesting level, fields in insertion order. */
export function renderTextProto(message: TextMessage, indent = ''): string {
  const lines: string[] = [];
  for (const [field, value] of Object.entries(message)) {
    if (value === undefined) continue;
    if (!/^[a-z_][a-z0-9_]*$/.test(field)) throw new Error(`not a field name: ${JSON.stringify(field)}`);
    if (Array.isArray(value)) {
      if (value.length > 0 && isMessage(value[0])) {
        // Repeated messages (map entries too) in list syntax: `field [ { … }, { … } ]`.
        const items = (value as readonly TextMessage[]).map((item) => `${indent}  {\n${renderTextProto(item, `${indent}    `)}${indent}  }`);
        lines.push(`${indent}${field} [\n${items.join(',\n')}\n${indent}]`);
      } else {
        lines.push(`${indent}${field}: [ ${(value as readonly TextScalar[]).map(scalar).join(', ')} ]`);
      }
    } else if (isMessage(value)) {
      lines.push(`${indent}${field} {\n${renderTextProto(value, `${indent}  `)}${indent}}`);
    } else {
      lines.push(`${indent}${field}: ${scalar(value as TextScalar)}`);
    }
  }
  return lines.map((line) => `${line}\n`).join('');
}

function isMessage(value: unknown): value is TextMessage {
  return typeof value === 'object' && value !== null && !(value instanceof EnumValue) && !Array.isArray(value);
}

function scalar(value: TextScalar): string {
  if (value instanceof EnumValue) return value.name;
  if (typeof value === 'string') return quote(value);
  if (typeof value === 'number' && !Number.isFinite(value)) throw new Error(`cannot write ${value} in a model configuration`);
  return String(value);
}

/** A double-quoted string with text-format escapes: C-style, and octal for other control bytes (UTF-8 passes through). */
function quote(text: string): string {
  const escaped = text.replace(/[\\"\n\r\t\x00-\x1f\x7f]/g, (c) => {
    const named: Record<string, string> = { '\\': '\\\\', '"': '\\"', '\n': '\\n', '\r': '\\r', '\t': '\\t' };
    return named[c] ?? `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`;
  });
  return `"${escaped}"`;
}
