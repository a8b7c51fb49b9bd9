/**
 * The web app's files (built by `npm run build:web` into dist/webapp; the hub never builds at
 * request time). All of them are read once at start into memory with their precompressed
 * variants (`.br`, `.gz`, written by the build), so a request is a lookup and one write:
 * - `ETag` on every file, `304` on `If-None-Match`;
 * - `/assets/*` names carry a content hash: cached a year, `immutable`; the page, `/app.js`
 *   and `/app.css` keep their names, so they are revalidated (`no-cache`);
 * - brotli or gzip by `Accept-Encoding`, `Vary: Accept-Encoding`;
 * - the strict Content-Security-Policy of {@link PAGE_HEADERS} on everything.
 * @see PROTOCOL.md §1
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import type { TemplatedApp } from './uws.js';

/**
 * Headers of the web page and its files: scripts and styles only from the hub itself (no
 * inline code an injected string could become), never framed, no MIME sniffing.
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
};

const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

interface WebFile {
  readonly type: string;
  readonly etag: string;
  readonly cache: string;
  readonly body: Buffer;
  readonly br: Buffer | undefined;
  readonly gz: Buffer | undefined;
}

/** Where the build puts the app: `<repo>/dist/webapp`, seen from src/server/ (tsx) or dist/server/ (node). */
export function webDir(): string | undefined {
  for (const candidate of ['../../dist/webapp/', '../webapp/']) {
    const dir = fileURLToPath(new URL(candidate, import.meta.url));
    if (existsSync(join(dir, 'index.html'))) return dir;
  }
  return undefined;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

function etagOf(body: Buffer): string {
  return `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
}

function escapeAttribute(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Reads the built app into memory, keyed by URL path (`/` for the page). With SSO on, the
 * provider's name goes into the page's `hub-sso` meta tag (once, here), and the page is
 * compressed again.
 */
export function loadWebFiles(dir: string, sso?: { providerName: string }): Map<string, WebFile> {
  const files = new Map<string, WebFile>();
  for (const path of walk(dir)) {
    if (path.endsWith('.br') || path.endsWith('.gz')) continue;
    const rel = relative(dir, path).split(sep).join('/');
    let body = readFileSync(path);
    let br = existsSync(`${path}.br`) ? readFileSync(`${path}.br`) : undefined;
    let gz = existsSync(`${path}.gz`) ? readFileSync(`${path}.gz`) : undefined;
    if (rel === 'index.html' && sso !== undefined) {
      body = Buffer.from(body.toString('utf8').replace('<meta name="hub-sso" content="">', `<meta name="hub-sso" content="${escapeAttribute(sso.providerName)}">`));
      br = brotliCompressSync(body);
      gz = gzipSync(body);
    }
    files.set(rel === 'index.html' ? '/' : `/${rel}`, {
      type: TYPES[extname(path)] ?? 'application/octet-stream',
      etag: etagOf(body),
      cache: rel.startsWith('assets/') ? IMMUTABLE : REVALIDATE,
      body,
      br,
      gz,
    });
  }
  return files;
}

/** Registers one GET route per file of the built app. */
export function registerWebRoutes(app: TemplatedApp, files: ReadonlyMap<string, WebFile>): void {
  for (const [path, file] of files) {
    app.get(path, (res, req) => {
      // Everything is answered synchronously: no await, so no onAborted needed.
      const notModified = req.getHeader('if-none-match') === file.etag;
      const accept = req.getHeader('accept-encoding');
      const [encoding, body] =
        file.br !== undefined && /\bbr\b/.test(accept) ? ['br', file.br] as const
        : file.gz !== undefined && /\bgzip\b/.test(accept) ? ['gzip', file.gz] as const
        : [undefined, file.body] as const;
      res.writeStatus(notModified ? '304 Not Modified' : '200 OK');
      res.writeHeader('content-type', file.type).writeHeader('cache-control', file.cache).writeHeader('etag', file.etag);
      if (file.br !== undefined || file.gz !== undefined) res.writeHeader('vary', 'Accept-Encoding');
      for (const [name, value] of Object.entries(PAGE_HEADERS)) res.writeHeader(name, value);
      if (notModified) {
        res.endWithoutBody();
        return;
      }
      if (encoding !== undefined) res.writeHeader('content-encoding', encoding);
      res.end(body);
    });
  }
}
