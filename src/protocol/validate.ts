/** Compiled TypeBox validators whose failures become `422 invalid` with one detail per field. */
import { FormatRegistry, Kind, type TSchema } from '@sinclair/typebox';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { jsonValueProblem } from './json-value.js';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { invalid, type ErrorDetail } from '../errors.js';

FormatRegistry.Set('date-time', (v) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(v) && !Number.isNaN(Date.parse(v)));
FormatRegistry.Set('email', (v) => /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(v));
FormatRegistry.Set('uuid', (v) => /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(v));
FormatRegistry.Set('http-url', (v) => {
  try {
    const url = new URL(v);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
});

export interface Validator {
  /** Throws `422 invalid` listing every bad field. */
  assert(value: unknown): void;
}

/** Most details reported for one value; enough to fix it, bounded for hostile input. */
const MAX_DETAILS = 50;

/**
 * Deepest nesting of a request's `data` that reaches TypeBox. Some of its checks recurse
 * (uniqueItems hashes each item), so a value nested thousands of levels deep would overflow the
 * stack and answer 500; JSON-valued fields have their own, smaller bound (json-value.ts).
 */
export const MAX_DATA_DEPTH = 64;

/** Compiles `schema` once; `assert` is then cheap. */
export function compileSchema(schema: TSchema): Validator {
  const check = TypeCompiler.Compile(schema);
  return {
    assert(value) {
      const tooDeep = fieldNestedBeyond(value, MAX_DATA_DEPTH);
      if (tooDeep !== undefined) throw invalid([{ path: tooDeep, message: `must be nested at most ${MAX_DATA_DEPTH} levels deep` }]);
      if (check.Check(value)) return;
      const details: ErrorDetail[] = [];
      const seen = new Set<string>();
      for (const error of check.Errors(value)) {
        // A union reports once per branch; one message per path is clearer.
        if (seen.has(error.path)) continue;
        seen.add(error.path);
        details.push({ path: error.path, message: messageOf(error) });
        if (details.length >= MAX_DETAILS) break;
      }
      throw invalid(details);
    },
  };
}

/** TypeBox's message, made readable where it would name an internal kind. */
function messageOf(error: ValueError): string {
  if (error.message === 'Unexpected property') return 'is not a known field';
  if (error.type === ValueErrorType.Kind && (error.schema as { [Kind]?: string })[Kind] === 'BoundedJson') {
    const wantsObject = (error.schema as { type?: string }).type === 'object';
    const v = error.value;
    if (wantsObject && (typeof v !== 'object' || v === null || Array.isArray(v))) return 'must be an object';
    return jsonValueProblem(v) ?? 'must be a JSON value';
  }
  return error.message;
}

/**
 * The JSON Pointer of the top-level field of `value` that nests arrays and objects deeper than
 * `maxDepth`, or undefined. Iterative, so a hostile value cannot overflow the stack here either.
 */
function fieldNestedBeyond(value: unknown, maxDepth: number): string | undefined {
  const stack: { v: unknown; depth: number; field: string }[] = [{ v: value, depth: 0, field: '' }];
  while (stack.length > 0) {
    const { v, depth, field } = stack.pop() as { v: unknown; depth: number; field: string };
    if (typeof v !== 'object' || v === null || ArrayBuffer.isView(v)) continue;
    if (depth > maxDepth) return field;
    for (const [key, child] of Object.entries(v)) {
      stack.push({ v: child, depth: depth + 1, field: depth === 0 ? `/${key.replaceAll('~', '~0').replaceAll('/', '~1')}` : field });
    }
  }
  return undefined;
}
