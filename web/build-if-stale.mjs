// `npm start`: builds the web app when dist/webapp is missing or older than its sources (web/,
// the SDK's sources it bundles, the lock file). The hub itself never builds at request time.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const built = join(root, 'dist/webapp/index.html');

function newest(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return readdirSync(path).reduce((max, name) => Math.max(max, newest(join(path, name))), st.mtimeMs);
}

const sources = ['web', 'packages/client/src', 'package-lock.json'].map((p) => join(root, p)).filter((p) => existsSync(p));
const stale = !existsSync(built) || sources.some((p) => newest(p) > statSync(built).mtimeMs);
if (stale) {
  console.log('building the web app (dist/webapp)…');
  const run = spawnSync('npm', ['run', '-s', 'build:web'], { cwd: root, stdio: 'inherit' });
  if (run.status !== 0) process.exit(run.status ?? 1);
}
