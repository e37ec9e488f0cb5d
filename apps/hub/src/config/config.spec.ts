import { ConfigError, loadConfig } from './config.js';

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected loadConfig to fail');
}

describe('loadConfig', () => {
  it('gives the contract defaults for an empty environment', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      production: false,
      port: 3000,
      jwtSecretGenerated: true,
      redisUrl: undefined,
      databaseUrl: undefined,
      redisPrefix: 'herald:',
      heartbeatMs: 15000,
      replayMaxEvents: 1000,
      streamsPerUserMax: 8,
      shutdownGraceMs: 10000,
      devAuth: true,
    });
    expect(config.jwtSecret.length).toBeGreaterThanOrEqual(32);
  });

  it('makes a different secret on each boot in development', () => {
    expect(loadConfig({}).jwtSecret).not.toBe(loadConfig({}).jwtSecret);
  });

  it('refuses production without a secret, or with a short one, naming JWT_SECRET', () => {
    expect(problemsOf({ NODE_ENV: 'production' })).toEqual([expect.stringMatching(/^JWT_SECRET: is missing/)]);
    expect(problemsOf({ NODE_ENV: 'production', JWT_SECRET: 'short' })).toEqual([
      expect.stringMatching(/^JWT_SECRET: is too short/),
    ]);
  });

  it('turns dev auth off in production and refuses it on', () => {
    const secret = 'x'.repeat(32);
    expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret }).devAuth).toBe(false);
    expect(problemsOf({ NODE_ENV: 'production', JWT_SECRET: secret, HERALD_DEV_AUTH: 'on' })).toEqual([
      expect.stringMatching(/^HERALD_DEV_AUTH:/),
    ]);
  });

  it('lists every bad variable by name', () => {
    const problems = problemsOf({
      PORT: 'eighty',
      HEARTBEAT_MS: '10',
      REPLAY_MAX_EVENTS: '-1',
      HERALD_DEV_AUTH: 'maybe',
      LOG_LEVEL: 'loud',
      REDIS_URL: 'localhost:6379',
      DATABASE_URL: 'mysql://x',
      HERALD_HEARTBEAT: '5',
    });
    const names = problems.map((p) => p.split(':')[0]).sort();
    expect(names).toEqual(
      [
        'PORT',
        'HEARTBEAT_MS',
        'REPLAY_MAX_EVENTS',
        'HERALD_DEV_AUTH',
        'LOG_LEVEL',
        'REDIS_URL',
        'DATABASE_URL',
        'HERALD_HEARTBEAT',
      ].sort(),
    );
  });

  it('takes several Redis seed nodes only in cluster mode', () => {
    const seeds = 'redis://127.0.0.1:7000,redis://127.0.0.1:7001';
    expect(loadConfig({ REDIS_URL: seeds, REDIS_CLUSTER: 'on' }).redisCluster).toBe(true);
    expect(problemsOf({ REDIS_URL: seeds })).toEqual([expect.stringMatching(/^REDIS_URL:/)]);
    expect(problemsOf({ REDIS_CLUSTER: 'on' })).toEqual([expect.stringMatching(/^REDIS_CLUSTER:/)]);
  });

  it('reads the CORS allow-list', () => {
    expect(loadConfig({ CORS_ORIGINS: 'https://a.example, https://b.example' }).corsOrigins).toEqual([
      'https://a.example',
      'https://b.example',
    ]);
  });
});
