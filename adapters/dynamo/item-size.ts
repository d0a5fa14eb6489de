/**
 * DynamoDB's own accounting of item size, which is what its 400 KB item limit is checked against:
 * attribute names count in UTF-8 bytes, strings in UTF-8 bytes, numbers by significant digits,
 * lists and maps 3 bytes each plus 1 byte per element. The estimate errs on the large side for
 * numbers, so an item this file says fits does fit.
 */

/** DynamoDB's item size limit (400 KB), in bytes. */
export const DYNAMO_MAX_ITEM_BYTES = 400 * 1024;

/** Bytes an attribute value counts for, without its name. */
export function attributeValueBytes(value: unknown): number {
  switch (typeof value) {
    case 'string':
      return Buffer.byteLength(value, 'utf8');
    case 'number':
      return numberBytes(value);
    case 'boolean':
      return 1;
    case 'object': {
      if (value === null) return 1;
      if (Array.isArray(value)) {
        let bytes = 3;
        for (const element of value as unknown[]) bytes += 1 + attributeValueBytes(element);
        return bytes;
      }
      let bytes = 3;
      for (const [name, element] of Object.entries(value)) {
        if (element !== undefined)
          bytes += 1 + Buffer.byteLength(name, 'utf8') + attributeValueBytes(element);
      }
      return bytes;
    }
    default:
      return 0;
  }
}

/** Bytes a whole item counts for: each top-level attribute's name plus its value. */
export function itemBytes(item: Readonly<Record<string, unknown>>): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item)) {
    if (value !== undefined) bytes += Buffer.byteLength(name, 'utf8') + attributeValueBytes(value);
  }
  return bytes;
}

/**
 * One byte per two significant digits plus one. Rounding the digit count up by one covers the
 * base-100 alignment of the decimal point, which can cost one more byte than the plain rule says.
 */
function numberBytes(value: number): number {
  if (!Number.isFinite(value)) return 21;
  const text = Math.abs(value).toExponential();
  const digits = text.slice(0, text.indexOf('e')).replace('.', '').length;
  return Math.ceil((digits + 1) / 2) + 1;
}
