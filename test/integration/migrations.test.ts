/** migrations/ is what drizzle-kit makes of schema.ts, and `npm run db:migrate` applies it. */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR } from '../../src/db/migrate.js';
import { createEmptyDatabase } from '../support/db.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');

describe('migrations', () => {
  it('agree with src/db/schema.ts (drizzle-kit generates nothing new)', async () => {
    // drizzle-kit wants a relative --out; work on a scratch copy so the real folder is untouched.
    const scratch = path.join('.vitest-data', `migrations-${randomBytes(4).toString('hex')}`);
    await mkdir(path.join(ROOT, '.vitest-data'), { recursive: true });
    await cp(MIGRATIONS_DIR, path.join(ROOT, scratch), { recursive: true });
    try {
      const before = await readdir(path.join(ROOT, scratch));
      const { stdout } = await run(
        path.join(ROOT, 'node_modules/.bin/drizzle-kit'),
        ['generate', '--dialect', 'postgresql', '--schema', './src/db/schema.ts', '--out', `./${scratch}`],
        { cwd: ROOT },
      );
      expect(await readdir(path.join(ROOT, scratch))).toEqual(before);
      expect(stdout).toContain('No schema changes');
    } finally {
      await rm(path.join(ROOT, scratch), { recursive: true, force: true });
    }
  });

  it('npm run db:migrate creates every table and index on an empty DATABASE_URL, and is idempotent', async () => {
    const database = await createEmptyDatabase();
    try {
      const env = { ...process.env, DATABASE_URL: database.url, HUB_LOG_LEVEL: 'warn' };
      await run('npm', ['run', '--silent', 'db:migrate'], { cwd: ROOT, env });
      await run('npm', ['run', '--silent', 'db:migrate'], { cwd: ROOT, env });
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      const tables = await client.query(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'public'`);
      const index = await client.query(`SELECT 1 FROM pg_indexes WHERE indexname = 'ix_datapoints_event_ts'`);
      const fks = await client.query(`SELECT count(*)::int AS n FROM information_schema.referential_constraints WHERE constraint_schema = 'public'`);
      await client.end();
      expect(tables.rows[0].n).toBe(19); // 18 + ingest_commits (0010)
      expect(index.rowCount).toBe(1);
      // 21 − the two of datapoints, kept by triggers since 0013 (schema-foreign-keys.test.ts).
      expect(fks.rows[0].n).toBe(19);
    } finally {
      await database.drop();
    }
  });
});
