import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('loadConfig', () => {
  it('gives the defaults of PROTOCOL.md §9 for an empty environment', () => {
    const config = loadConfig({}, { cwd: '/srv/hub' });
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 8080,
      databaseUrl: null,
      dataDir: '/srv/hub/data',
      jwtSecret: null,
      adminUsername: 'admin',
      adminPassword: null,
      demo: false,
      natsUrl: null,
      maxBatchPoints: 10_000,
      queueCapacity: 200_000,
      maxFrameBytes: 1_048_576,
      maxUploadBytes: 536_870_912,
      subscriberBufferBytes: 1_048_576,
    });
  });

  it('is frozen', () => {
    const config = loadConfig({});
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads every variable', () => {
    const config = loadConfig(
      {
        HUB_HOST: '0.0.0.0',
        HUB_PORT: '0',
        DATABASE_URL: 'postgres://u:p@db:5432/hub',
        HUB_DATA_DIR: '/var/lib/hub',
        HUB_JWT_SECRET: 'x'.repeat(32),
        HUB_ADMIN_USERNAME: 'root',
        HUB_ADMIN_PASSWORD: 'longenough',
        HUB_DEMO: 'true',
        NATS_URL: 'nats://127.0.0.1:4222',
        HUB_MAX_BATCH_POINTS: '500',
        HUB_QUEUE_CAPACITY: '1000',
        HUB_MAX_FRAME_BYTES: '65536',
        HUB_MAX_UPLOAD_BYTES: '1024',
      },
      { cwd: '/' },
    );
    expect(config).toMatchObject({
      host: '0.0.0.0',
      port: 0,
      databaseUrl: 'postgres://u:p@db:5432/hub',
      dataDir: '/var/lib/hub',
      adminUsername: 'root',
      adminPassword: 'longenough',
      demo: true,
      natsUrl: 'nats://127.0.0.1:4222',
      maxBatchPoints: 500,
      queueCapacity: 1000,
      maxFrameBytes: 65536,
      maxUploadBytes: 1024,
    });
  });

  it('turns the demo on for npm start unless HUB_DEMO says otherwise', () => {
    expect(loadConfig({}, { demoByDefault: true }).demo).toBe(true);
    expect(loadConfig({ HUB_DEMO: '0' }, { demoByDefault: true }).demo).toBe(false);
  });

  it('lists every bad variable in one error', () => {
    let error: unknown;
    try {
      loadConfig({
        HUB_PORT: '99999',
        DATABASE_URL: 'mysql://nope',
        HUB_JWT_SECRET: 'short-secret-value',
        HUB_ADMIN_PASSWORD: 'short',
        HUB_DEMO: 'maybe',
        HUB_MAX_BATCH_POINTS: '-5',
        HUB_QUEUE_CAPACITY: 'lots',
        HUB_LOG_LEVEL: 'loud',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join('\n');
    for (const key of [
      'HUB_PORT',
      'DATABASE_URL',
      'HUB_JWT_SECRET',
      'HUB_ADMIN_PASSWORD',
      'HUB_DEMO',
      'HUB_MAX_BATCH_POINTS',
      'HUB_QUEUE_CAPACITY',
      'HUB_LOG_LEVEL',
    ]) {
      expect(problems).toContain(key);
    }
  });

  it('never repeats a secret in its error', () => {
    try {
      loadConfig({ HUB_JWT_SECRET: 'hunter2-is-my-secret', HUB_ADMIN_PASSWORD: 'pw1' });
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).not.toContain('hunter2');
      expect((err as Error).message).not.toContain('pw1');
    }
  });

  it('refuses a queue smaller than one full batch', () => {
    expect(() => loadConfig({ HUB_MAX_BATCH_POINTS: '5000', HUB_QUEUE_CAPACITY: '100' })).toThrow(/HUB_QUEUE_CAPACITY/);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ HUB_PORT: '', DATABASE_URL: '' })).toMatchObject({ port: 8080, databaseUrl: null });
  });
});
