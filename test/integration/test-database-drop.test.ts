/**
 * The test support's own database teardown: `drop()` ends the pool, then drops the database WITH
 * (FORCE), which may terminate a connection still closing; its FATAL 57P01 reaches the pool as an
 * idle client's 'error'. That must never surface as an uncaught exception (it failed a whole CI
 * run once, after all tests had passed). The race itself is rare; what it leads to is not.
 */
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '../support/db.js';

describe('test databases', () => {
  it("regression: an idle client's error (a connection terminated by the drop) is not thrown by the pool", async () => {
    const database = await createTestDatabase();
    try {
      const client = await database.pool.connect();
      client.release();
      const terminated = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
      // pg-pool re-emits an idle client's error on the pool: with no listener, EventEmitter throws.
      expect(() => (client as pg.PoolClient).emit('error', terminated)).not.toThrow();
    } finally {
      await database.drop();
    }
  });
});
