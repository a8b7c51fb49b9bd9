/**
 * JSON-valued fields (widget and plugin `config`, command payloads): plain JSON only, with a
 * bounded depth and size. A value nested thousands of levels deep can be stored by PostgreSQL
 * but not encoded again by every client library (nor by msgpackr), so it is refused on write.
 */

/** Deepest nesting of arrays and objects in a JSON-valued field. */
export const MAX_JSON_DEPTH = 32;
/** Largest JSON-valued field, counted as its JSON text (approximately, in UTF-16 units). */
export const MAX_JSON_BYTES = 64 * 1024;

/**
 * Why `value` is not a bounded plain-JSON value, or undefined when it is. Iterative, so a
 * hostile value cannot overflow the stack; stops as soon as a bound is passed.
 */
export function jsonValueProblem(value: unknown, maxDepth = MAX_JSON_DEPTH, maxBytes = MAX_JSON_BYTES): string | undefined {
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  let size = 0;
  while (stack.length > 0) {
    const { value: v, depth } = stack.pop() as { value: unknown; depth: number };
    switch (typeof v) {
      case 'string':
        size += v.length + 2;
        break;
      case 'number':
        if (!Number.isFinite(v)) return 'must hold only finite numbers';
        size += 8;
        break;
      case 'boolean':
        size += 5;
        break;
      case 'object': {
        if (v === null) {
          size += 4;
          break;
        }
        if (depth >= maxDepth) return `must be nested at most ${maxDepth} levels deep`;
        if (Array.isArray(v)) {
          size += 2 + v.length;
          if (size > maxBytes) return `must be at most ${maxBytes} bytes as JSON`;
          for (const item of v) stack.push({ value: item, depth: depth + 1 });
        } else {
          const proto = Object.getPrototypeOf(v) as unknown;
          // Dates (MessagePack timestamps), byte arrays, Maps and extension objects are not JSON.
          if (proto !== Object.prototype && proto !== null) return 'must hold only JSON values (objects, arrays, strings, numbers, booleans, null)';
          for (const [key, item] of Object.entries(v)) {
            size += key.length + 4;
            if (size > maxBytes) return `must be at most ${maxBytes} bytes as JSON`;
            stack.push({ value: item, depth: depth + 1 });
          }
        }
        break;
      }
      default:
        // bigint, undefined, function, symbol
        return 'must hold only JSON values (objects, arrays, strings, numbers, booleans, null)';
    }
    if (size > maxBytes) return `must be at most ${maxBytes} bytes as JSON`;
  }
  return undefined;
}
