import { defineConfig } from 'drizzle-kit';

/** `npm run db:generate` writes SQL migrations for src/db/schema.ts; it needs no database. */
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema.ts',
  out: './migrations',
});
