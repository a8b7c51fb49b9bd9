/**
 * Each native addon really loads from its prebuilt binary (npm 11 skips install scripts), and
 * works: a crash (argon2 0.45.1's prebuild segfaults on glibc 2.36) fails here, not in production.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

function runNode(script: string, env: NodeJS.ProcessEnv = {}): string {
  return execFileSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
}

describe('native addons', () => {
  it('uWebSockets.js loads its native addon', () => {
    const out = runNode(`import uws from 'uWebSockets.js'; console.log(typeof uws.SSLApp, typeof uws.getParts);`);
    expect(out.trim()).toBe('function function');
  });

  it('argon2 hashes and verifies', () => {
    const out = runNode(
      `import argon2 from 'argon2'; const h = await argon2.hash('pw'); console.log(h.startsWith('$argon2id$'), await argon2.verify(h, 'pw'));`,
    );
    expect(out.trim()).toBe('true true');
  });

  it('msgpackr uses its native extension', () => {
    const out = runNode(`import { isNativeAccelerationEnabled, pack, unpack } from 'msgpackr'; console.log(isNativeAccelerationEnabled, unpack(pack({a: 1})).a);`);
    expect(out.trim()).toBe('true 1');
  });
});
