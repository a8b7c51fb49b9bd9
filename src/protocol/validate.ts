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

/** Compiles `schema` once; `assert` is then cheap. */
export function compileSchema(schema: TSchema): Validator {
  const check = TypeCompiler.Compile(schema);
  return {
    assert(value) {
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
