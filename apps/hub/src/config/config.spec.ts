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
      streamMaxAgeMs: 1_800_000,
      ingressClaimIdleMs: 10_000,
      devAuth: true,
    });
    expect(config.jwtSecret.length).toBeGreaterThanOrEqual(32);
  });

  it('takes STREAM_MAX_AGE_MS of 0 (never) or 1 s and more, and refuses the rest naming it', () => {
    expect(loadConfig({ STREAM_MAX_AGE_MS: '0' }).streamMaxAgeMs).toBe(0);
    expect(loadConfig({ STREAM_MAX_AGE_MS: '60000' }).streamMaxAgeMs).toBe(60_000);
    expect(problemsOf({ STREAM_MAX_AGE_MS: '500' })).toEqual([expect.stringMatching(/^STREAM_MAX_AGE_MS: must be 0 \(never\) or at least 1000/)]);
    expect(problemsOf({ STREAM_MAX_AGE_MS: '30min' })).toEqual([expect.stringMatching(/^STREAM_MAX_AGE_MS: must be a whole number/)]);
  });

  it('takes TOKEN_MAX_LIFETIME_S (366 days by default, 0 = no limit), and refuses a bad one naming it', () => {
    expect(loadConfig({}).tokenMaxLifetimeS).toBe(366 * 86_400);
    expect(loadConfig({ TOKEN_MAX_LIFETIME_S: '0' }).tokenMaxLifetimeS).toBe(0);
    expect(loadConfig({ TOKEN_MAX_LIFETIME_S: '3600' }).tokenMaxLifetimeS).toBe(3600);
    expect(problemsOf({ TOKEN_MAX_LIFETIME_S: '1y' })).toEqual([expect.stringMatching(/^TOKEN_MAX_LIFETIME_S: must be a whole number/)]);
    expect(problemsOf({ TOKEN_MAX_LIFETIME_S: '-1' })).toEqual([expect.stringMatching(/^TOKEN_MAX_LIFETIME_S:/)]);
  });

  it('takes REPLAY_MAX_BYTES (1 MiB by default, at least 1 KiB), and refuses a bad one naming it', () => {
    expect(loadConfig({}).replayMaxBytes).toBe(1_048_576);
    expect(loadConfig({ REPLAY_MAX_BYTES: '4096' }).replayMaxBytes).toBe(4096);
    expect(problemsOf({ REPLAY_MAX_BYTES: '100' })).toEqual([expect.stringMatching(/^REPLAY_MAX_BYTES:/)]);
    expect(problemsOf({ REPLAY_MAX_BYTES: '1MiB' })).toEqual([expect.stringMatching(/^REPLAY_MAX_BYTES: must be a whole number/)]);
  });

  it('takes IDEMPOTENCY_WINDOW_MS (24 h by default, 1 s to 7 days), and refuses a bad one naming it', () => {
    expect(loadConfig({}).idempotencyWindowMs).toBe(86_400_000);
    expect(loadConfig({ IDEMPOTENCY_WINDOW_MS: '60000' }).idempotencyWindowMs).toBe(60_000);
    expect(problemsOf({ IDEMPOTENCY_WINDOW_MS: '10' })).toEqual([expect.stringMatching(/^IDEMPOTENCY_WINDOW_MS:/)]);
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
      NODE_ENV: 'Production',
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
        'NODE_ENV',
      ].sort(),
    );
  });

  it('starts with the variables Kubernetes injects for a Service named herald, and any other unknown one', () => {
    const config = loadConfig({
      HERALD_SERVICE_HOST: '10.0.0.7',
      HERALD_SERVICE_PORT: '80',
      HERALD_PORT: 'tcp://10.0.0.7:80',
      HERALD_PORT_80_TCP: 'tcp://10.0.0.7:80',
      HERALD_PORT_80_TCP_PROTO: 'tcp',
      HERALD_WRAPPER_MODE: 'ci',
    });
    expect(config.port).toBe(3000);
    expect(config.warnings.filter((w) => !w.startsWith('dev auth'))).toEqual([]);
  });

  it('warns of a near-miss of a known name, and ignores it', () => {
    const config = loadConfig({ HEARTBEAT_MSS: '5000', herald_dev_auth: 'off', REPLAY_MAX_EVENT: '5' });
    expect(config.heartbeatMs).toBe(15000);
    expect(config.warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^HEARTBEAT_MSS .*did you mean HEARTBEAT_MS\?/),
        expect.stringMatching(/^herald_dev_auth .*did you mean HERALD_DEV_AUTH\?/),
        expect.stringMatching(/^REPLAY_MAX_EVENT .*did you mean REPLAY_MAX_EVENTS\?/),
      ]),
    );
  });

  it('reads public topic prefixes, trimmed, and the topics a stream may follow', () => {
    const config = loadConfig({ PUBLIC_TOPICS: ' post:, news: ,', TOPICS_PER_STREAM_MAX: '8' });
    expect([config.publicTopics, config.topicsPerStreamMax]).toEqual([['post:', 'news:'], 8]);
    expect(loadConfig({}).publicTopics).toEqual([]);
  });

  it.each([
    [{ PUBLIC_TOPICS: 'post:,team 7' }, 'PUBLIC_TOPICS'],
    [{ PUBLIC_TOPICS: 'post:*' }, 'PUBLIC_TOPICS'],
    [{ TOPICS_PER_STREAM_MAX: '0' }, 'TOPICS_PER_STREAM_MAX'],
    [{ TOPICS_PER_STREAM_MAX: '257' }, 'TOPICS_PER_STREAM_MAX'],
  ])('refuses %j, naming %s', (env, name) => {
    expect(problemsOf(env)).toEqual([expect.stringMatching(new RegExp(`^${name}:`))]);
  });

  it.each(['Production', 'prod', 'staging', ''])('refuses NODE_ENV=%j, naming it', (value) => {
    expect(problemsOf({ NODE_ENV: value, JWT_SECRET: 'x'.repeat(32) })).toEqual([expect.stringMatching(/^NODE_ENV:/)]);
  });

  it.each([
    ['a bare start (no NODE_ENV, no JWT_SECRET)', {}, true],
    ['NODE_ENV=development', { NODE_ENV: 'development', JWT_SECRET: 'x'.repeat(32) }, true],
    ['NODE_ENV=test', { NODE_ENV: 'test', JWT_SECRET: 'x'.repeat(32) }, true],
    ['a real JWT_SECRET without NODE_ENV', { JWT_SECRET: 'x'.repeat(32) }, false],
    ['production', { NODE_ENV: 'production', JWT_SECRET: 'x'.repeat(32) }, false],
    ['HERALD_DEV_AUTH=on without NODE_ENV', { JWT_SECRET: 'x'.repeat(32), HERALD_DEV_AUTH: 'on' }, true],
    ['HERALD_DEV_AUTH=off in development', { NODE_ENV: 'development', HERALD_DEV_AUTH: 'off' }, false],
  ])('dev auth with %s, with a warning whenever it is on', (_name, env, on) => {
    const config = loadConfig(env);
    expect(config.devAuth).toBe(on);
    expect(config.warnings.some((w) => w.startsWith('dev auth is ON'))).toBe(on);
  });

  it('takes several Redis seed nodes only in cluster mode', () => {
    const seeds = 'redis://127.0.0.1:7000,redis://127.0.0.1:7001';
    expect(loadConfig({ REDIS_URL: seeds, REDIS_CLUSTER: 'on' }).redisCluster).toBe(true);
    expect(problemsOf({ REDIS_URL: seeds })).toEqual([expect.stringMatching(/^REDIS_URL:/)]);
    expect(problemsOf({ REDIS_CLUSTER: 'on' })).toEqual([expect.stringMatching(/^REDIS_CLUSTER:/)]);
  });

  it('reaches Redis through Sentinel: sentinel addresses (26379 when no port is given), the master name and credentials', () => {
    const config = loadConfig({
      REDIS_SENTINELS: 's1.internal, s2.internal:26380,[::1]:26381',
      REDIS_SENTINEL_MASTER: 'herald-main',
      REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
      REDIS_USERNAME: 'herald',
      REDIS_PASSWORD: 'redis-secret',
    });
    expect(config.redisSentinel).toEqual({
      sentinels: [
        { host: 's1.internal', port: 26379 },
        { host: 's2.internal', port: 26380 },
        { host: '::1', port: 26381 },
      ],
      master: 'herald-main',
      sentinelPassword: 'sentinel-secret',
      username: 'herald',
      password: 'redis-secret',
    });
    expect([config.redis, config.redisUrl, config.redisCluster]).toEqual([true, undefined, false]);
    expect(loadConfig({}).redis).toBe(false);
    expect(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }).redisSentinel).toBeUndefined();
  });

  it.each([
    [{ REDIS_SENTINELS: 's1:26379' }, 'REDIS_SENTINELS', /REDIS_SENTINEL_MASTER/],
    [{ REDIS_SENTINELS: 's1:26379', REDIS_SENTINEL_MASTER: 'm', REDIS_URL: 'redis://r:6379' }, 'REDIS_SENTINELS', /REDIS_URL/],
    [{ REDIS_SENTINELS: 's1:26379', REDIS_SENTINEL_MASTER: 'm', REDIS_CLUSTER: 'on' }, 'REDIS_SENTINELS', /REDIS_CLUSTER/],
    [{ REDIS_SENTINELS: 's1:26379:1', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS', /host:port/],
    [{ REDIS_SENTINELS: 's1:70000', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS', /host:port/],
    [{ REDIS_SENTINELS: 's1,', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS', /host:port/],
    [{ REDIS_SENTINELS: 'redis://s1:26379', REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINELS', /host:port/],
    [{ REDIS_SENTINELS: 's1', REDIS_SENTINEL_MASTER: 'two words' }, 'REDIS_SENTINEL_MASTER', /characters/],
    [{ REDIS_SENTINEL_MASTER: 'm' }, 'REDIS_SENTINEL_MASTER', /needs REDIS_SENTINELS/],
    [{ REDIS_URL: 'redis://r:6379', REDIS_SENTINEL_PASSWORD: 'x' }, 'REDIS_SENTINEL_PASSWORD', /needs REDIS_SENTINELS/],
    [{ REDIS_SENTINELS: 's1', REDIS_SENTINEL_MASTER: 'm', REDIS_SENTINEL_PASSWORD: '' }, 'REDIS_SENTINEL_PASSWORD', /empty/],
  ])('refuses %j, naming %s', (env, name, message) => {
    expect(problemsOf(env)).toEqual([expect.stringMatching(new RegExp(`^${name}: .*${message.source}`))]);
  });

  it('leaves REDIS_USERNAME and REDIS_PASSWORD alone without Sentinel, with a warning: another program may have set them', () => {
    const config = loadConfig({ REDIS_URL: 'redis://r:6379', REDIS_PASSWORD: 'for-the-server-container', REDIS_USERNAME: '' });
    expect(config.redisSentinel).toBeUndefined();
    expect(config.warnings).toEqual(expect.arrayContaining([expect.stringMatching(/^REDIS_PASSWORD is only read with REDIS_SENTINELS.*\(ignored\)$/)]));
    expect(config.warnings.some((w) => w.startsWith('REDIS_USERNAME'))).toBe(false);
  });

  it('takes REDIS_WAIT_REPLICAS (0: off) and REDIS_WAIT_TIMEOUT_MS (1 s) with Redis only, and refuses bad ones naming them', () => {
    expect([loadConfig({}).redisWaitReplicas, loadConfig({}).redisWaitTimeoutMs]).toEqual([0, 1000]);
    const config = loadConfig({ REDIS_URL: 'redis://r:6379', REDIS_WAIT_REPLICAS: '2', REDIS_WAIT_TIMEOUT_MS: '250' });
    expect([config.redisWaitReplicas, config.redisWaitTimeoutMs]).toEqual([2, 250]);
    expect(problemsOf({ REDIS_WAIT_REPLICAS: '1' })).toEqual([expect.stringMatching(/^REDIS_WAIT_REPLICAS: needs Redis/)]);
    expect(problemsOf({ REDIS_URL: 'redis://r:6379', REDIS_WAIT_REPLICAS: '17' })).toEqual([expect.stringMatching(/^REDIS_WAIT_REPLICAS: must be/)]);
    expect(problemsOf({ REDIS_URL: 'redis://r:6379', REDIS_WAIT_TIMEOUT_MS: '5' })).toEqual([expect.stringMatching(/^REDIS_WAIT_TIMEOUT_MS: must be/)]);
  });

  it('takes REDIS_FANOUT_CHANNEL_MIN (16; 0: never) and refuses a bad one naming it', () => {
    expect(loadConfig({}).redisFanoutChannelMin).toBe(16);
    expect(loadConfig({ REDIS_FANOUT_CHANNEL_MIN: '0' }).redisFanoutChannelMin).toBe(0);
    for (const value of ['-1', '1.5', 'many']) {
      expect(problemsOf({ REDIS_FANOUT_CHANNEL_MIN: value })).toEqual([expect.stringMatching(/^REDIS_FANOUT_CHANNEL_MIN: must be/)]);
    }
  });

  it('reads the CORS allow-list', () => {
    expect(loadConfig({ CORS_ORIGINS: 'https://a.example, https://b.example' }).corsOrigins).toEqual([
      'https://a.example',
      'https://b.example',
    ]);
  });
});
