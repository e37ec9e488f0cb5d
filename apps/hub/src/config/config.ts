import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { isTopic } from '#herald/contracts/topic';

/**
 * The hub's configuration, read from the environment once at start-up. Every
 * other class gets it injected; nothing else reads `process.env`.
 */
export class HubConfig {
  readonly production!: boolean;
  readonly port!: number;
  readonly jwtSecret!: string;
  /** True when no JWT_SECRET was given and a random one was made for this boot. */
  readonly jwtSecretGenerated!: boolean;
  readonly redisUrl!: string | undefined;
  readonly databaseUrl!: string | undefined;
  readonly databasePoolMax!: number;
  /** The SQLite file of the embedded default (`:memory:` for a throwaway database). */
  readonly sqlitePath!: string;
  /** Test hook: kill the process at a named point, to prove what survives a crash there. */
  readonly fault!: 'crash-after-commit' | undefined;
  /** Redis Cluster: REDIS_URL lists seed nodes, fan-out uses sharded pub/sub. */
  readonly redisCluster!: boolean;
  /** Redis reached through Sentinel (REDIS_SENTINELS), instead of REDIS_URL. */
  readonly redisSentinel!: RedisSentinelConfig | undefined;
  /** Whether instances share Redis (REDIS_URL or REDIS_SENTINELS); else everything lives in this process. */
  readonly redis!: boolean;
  /** Replicas that must hold an event before its publish is acknowledged (WAIT); 0: the master's word is enough. */
  readonly redisWaitReplicas!: number;
  /** How long an append waits for those replicas before the publish is refused (503). */
  readonly redisWaitTimeoutMs!: number;
  readonly redisPrefix!: string;
  /** Recipients from which an event travels between instances on the one fan-out channel all follow; 0: never. */
  readonly redisFanoutChannelMin!: number;
  /** How long an ingress entry may stay unacknowledged before another instance takes it over. */
  readonly ingressClaimIdleMs!: number;
  readonly heartbeatMs!: number;
  readonly replayMaxEvents!: number;
  /** Bytes of events kept per user for replay (characters in the embedded log); the newest is always kept. */
  readonly replayMaxBytes!: number;
  readonly replayTtlMs!: number;
  readonly streamsPerUserMax!: number;
  readonly streamsMax!: number;
  /** Topic prefixes any signed-in user may follow (PUBLIC_TOPICS). */
  readonly publicTopics!: readonly string[];
  readonly topicsPerStreamMax!: number;
  readonly shutdownGraceMs!: number;
  /** Streams end after this long (± 20 %), so load spreads onto new instances; 0: never. */
  readonly streamMaxAgeMs!: number;
  /** How long an Idempotency-Key is remembered for live events (persisted ones: as long as they are stored). */
  readonly idempotencyWindowMs!: number;
  /** Tokens expiring further ahead than this are refused; 0 = no limit. */
  readonly tokenMaxLifetimeS!: number;
  readonly devAuth!: boolean;
  readonly logLevel!: LogLevel;
  readonly corsOrigins!: readonly string[];
  readonly rateLimitWindowMs!: number;
  /** Per client address and window; 0 turns a limit off (as for every rate limit). */
  readonly rateLimitDevToken!: number;
  /** Per user and window. */
  readonly rateLimitTickets!: number;
  readonly rateLimitStreamOpensPerUser!: number;
  /** Per client address: off by default, as behind a proxy every client has the proxy's address. */
  readonly rateLimitStreamOpensPerAddress!: number;
  /** Said once at start-up, never fatal: near-misses of known names, dev auth being on. */
  readonly warnings!: readonly string[];
}

export interface RedisSentinelConfig {
  readonly sentinels: readonly { host: string; port: number }[];
  /** The name the sentinels monitor the master under. */
  readonly master: string;
  /** The sentinels' own password (their `requirepass`), if they have one. */
  readonly sentinelPassword: string | undefined;
  /** The master's and replicas' credentials: what REDIS_URL would carry. */
  readonly username: string | undefined;
  readonly password: string | undefined;
}

export const LOG_LEVELS = ['error', 'warn', 'log', 'debug', 'verbose'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

const MIN_PRODUCTION_SECRET_BYTES = 32;

/** Shorter, and clients would spend more time reconnecting than streaming. */
const MIN_STREAM_AGE_MS = 1000;

const NODE_ENVS = ['development', 'test', 'production'] as const;

const int = (fallback: number, min: number, max: number) =>
  z
    .string()
    .default(String(fallback))
    .refine((v) => /^\d+$/.test(v.trim()), { message: `must be a whole number from ${min} to ${max}` })
    .transform((v) => Number(v))
    .refine((v) => v >= min && v <= max, { message: `must be a whole number from ${min} to ${max}` });

const flag = z
  .string()
  .optional()
  .refine((v) => v === undefined || /^(1|0|true|false|on|off|yes|no)$/i.test(v), {
    message: 'must be one of on, off, true, false, 1, 0, yes, no',
  })
  .transform((v) => (v === undefined ? undefined : /^(1|true|on|yes)$/i.test(v)));

const url = (protocols: string[], { list = false } = {}) =>
  z
    .string()
    .optional()
    .refine(
      (v) =>
        v === undefined ||
        (list ? v.split(',') : [v]).every((u) => protocols.some((p) => u.trim().startsWith(`${p}://`))),
      {
        message: `must be a URL starting with ${protocols.map((p) => `${p}://`).join(' or ')}${list ? ' (comma-separated for several)' : ''}`,
      },
    );

/** The port sentinels listen on unless told otherwise. */
const SENTINEL_PORT = 26379;

/** `host`, `host:port` or `[ipv6]:port`; null when it is none of them. */
function hostAndPort(address: string, defaultPort: number): { host: string; port: number } | null {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+))(?::(\d{1,5}))?$/.exec(address.trim());
  if (!match) return null;
  const port = match[3] === undefined ? defaultPort : Number(match[3]);
  return port >= 1 && port <= 65535 ? { host: match[1] ?? match[2], port } : null;
}

const sentinels = z
  .string()
  .optional()
  .refine((v) => v === undefined || v.split(',').every((a) => hostAndPort(a, SENTINEL_PORT) !== null), {
    message: `must be comma-separated host:port (port ${SENTINEL_PORT} when left out)`,
  });

const schema = z.object({
  NODE_ENV: z.enum(NODE_ENVS).optional(),
  PORT: int(3000, 0, 65535),
  JWT_SECRET: z.string().optional(),
  REDIS_URL: url(['redis', 'rediss'], { list: true }),
  REDIS_CLUSTER: flag,
  REDIS_SENTINELS: sentinels,
  REDIS_SENTINEL_MASTER: z.string().optional().refine((v) => v === undefined || /^[A-Za-z0-9._:-]{1,128}$/.test(v), {
    message: 'must be 1-128 characters of A-Z a-z 0-9 . _ : -',
  }),
  REDIS_SENTINEL_PASSWORD: z.string().min(1, 'is empty; unset it if the sentinels have no password').optional(),
  // Common names, maybe set for another program: any value goes, empty is none.
  REDIS_USERNAME: z.string().optional(),
  REDIS_PASSWORD: z.string().optional(),
  REDIS_WAIT_REPLICAS: int(0, 0, 16),
  REDIS_WAIT_TIMEOUT_MS: int(1000, 10, 60_000),
  REDIS_FANOUT_CHANNEL_MIN: int(16, 0, 1_000_000),
  DATABASE_URL: url(['postgres', 'postgresql']),
  DATABASE_POOL_MAX: int(10, 1, 1000),
  SQLITE_PATH: z.string().min(1).default('./data/herald.sqlite'),
  HERALD_FAULT: z.enum(['crash-after-commit']).optional(),
  REDIS_PREFIX: z.string().default('herald:').refine((v) => /^[A-Za-z0-9:_.-]{1,64}$/.test(v), {
    message: 'must be 1-64 characters of A-Z a-z 0-9 : _ . -',
  }),
  HEARTBEAT_MS: int(15_000, 50, 3_600_000),
  INGRESS_CLAIM_IDLE_MS: int(10_000, 100, 3_600_000),
  REPLAY_MAX_EVENTS: int(1000, 1, 1_000_000),
  REPLAY_MAX_BYTES: int(1_048_576, 1024, 1_073_741_824),
  REPLAY_TTL_MS: int(3_600_000, 1000, 30 * 86_400_000),
  STREAMS_PER_USER_MAX: int(8, 1, 10_000),
  STREAMS_MAX: int(100_000, 1, 10_000_000),
  // A prefix is the start of a topic name: in its charset, and no longer.
  PUBLIC_TOPICS: z.string().default('').refine((v) => v.split(',').every((p) => p.trim() === '' || isTopic(p.trim())), {
    message: 'must be comma-separated topic prefixes (A-Z a-z 0-9 _ . : @ -)',
  }),
  TOPICS_PER_STREAM_MAX: int(32, 1, 256),
  SHUTDOWN_GRACE_MS: int(10_000, 0, 600_000),
  STREAM_MAX_AGE_MS: int(1_800_000, 0, 7 * 86_400_000),
  TOKEN_MAX_LIFETIME_S: int(366 * 86_400, 0, 10 * 366 * 86_400),
  IDEMPOTENCY_WINDOW_MS: int(86_400_000, 1000, 7 * 86_400_000),
  HERALD_DEV_AUTH: flag,
  LOG_LEVEL: z.enum(LOG_LEVELS).default('log'),
  CORS_ORIGINS: z.string().default(''),
  RATE_LIMIT_WINDOW_MS: int(60_000, 1000, 86_400_000),
  RATE_LIMIT_DEV_TOKEN: int(60, 0, 1_000_000),
  RATE_LIMIT_TICKETS: int(600, 0, 1_000_000),
  RATE_LIMIT_STREAM_OPENS_PER_USER: int(600, 0, 1_000_000),
  RATE_LIMIT_STREAM_OPENS_PER_ADDRESS: int(0, 0, 10_000_000),
});

/**
 * Validates the environment into a HubConfig.
 * @throws ConfigError listing every bad variable by name.
 */
export function loadConfig(env: Record<string, string | undefined>): HubConfig {
  const problems: string[] = [];
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0]);
      problems.push(`${name}: ${issue.message} (got ${JSON.stringify(env[name])})`);
    }
    throw new ConfigError(problems);
  }
  const v = parsed.data;
  const production = v.NODE_ENV === 'production';
  const secret = v.JWT_SECRET ?? '';
  if (production && Buffer.byteLength(secret) < MIN_PRODUCTION_SECRET_BYTES) {
    problems.push(
      `JWT_SECRET: ${secret ? 'is too short' : 'is missing'}; production needs at least ${MIN_PRODUCTION_SECRET_BYTES} bytes (e.g. openssl rand -base64 48)`,
    );
  }
  if (!production && v.JWT_SECRET === '') problems.push('JWT_SECRET: is empty; unset it to get a random one per boot');
  // A bare `npm start` (no NODE_ENV, no secret) is a developer trying it out;
  // a secret without NODE_ENV is a deployment that forgot it, so no dev tokens.
  const devAuth =
    v.HERALD_DEV_AUTH ?? (v.NODE_ENV === 'development' || v.NODE_ENV === 'test' || (!v.NODE_ENV && !v.JWT_SECRET));
  if (v.STREAM_MAX_AGE_MS > 0 && v.STREAM_MAX_AGE_MS < MIN_STREAM_AGE_MS) {
    problems.push(`STREAM_MAX_AGE_MS: must be 0 (never) or at least ${MIN_STREAM_AGE_MS} (got ${v.STREAM_MAX_AGE_MS})`);
  }
  if (production && v.HERALD_FAULT) problems.push('HERALD_FAULT: is a test hook and is refused in production');
  if (v.REDIS_CLUSTER && !v.REDIS_URL && !v.REDIS_SENTINELS) problems.push('REDIS_CLUSTER: is on but REDIS_URL is not set');
  if (!v.REDIS_CLUSTER && v.REDIS_URL?.includes(',')) {
    problems.push('REDIS_URL: lists several nodes; set REDIS_CLUSTER=on for a Redis Cluster');
  }
  problems.push(...redisSentinelProblems(v));
  if (v.REDIS_WAIT_REPLICAS > 0 && !v.REDIS_URL && !v.REDIS_SENTINELS) {
    problems.push('REDIS_WAIT_REPLICAS: needs Redis (REDIS_URL or REDIS_SENTINELS); without it events live in this process only');
  }
  if (production && devAuth) {
    problems.push('HERALD_DEV_AUTH: must be off in production (anyone could mint tokens)');
  }
  if (problems.length > 0) throw new ConfigError(problems);

  return Object.assign(new HubConfig(), {
    production,
    port: v.PORT,
    jwtSecret: v.JWT_SECRET || randomBytes(48).toString('base64'),
    jwtSecretGenerated: !v.JWT_SECRET,
    redisUrl: v.REDIS_URL,
    databaseUrl: v.DATABASE_URL,
    databasePoolMax: v.DATABASE_POOL_MAX,
    sqlitePath: v.SQLITE_PATH,
    fault: v.HERALD_FAULT,
    redisCluster: v.REDIS_CLUSTER ?? false,
    redisSentinel: v.REDIS_SENTINELS
      ? {
          sentinels: v.REDIS_SENTINELS.split(',').map((a) => hostAndPort(a, SENTINEL_PORT)!),
          master: v.REDIS_SENTINEL_MASTER!,
          sentinelPassword: v.REDIS_SENTINEL_PASSWORD,
          username: v.REDIS_USERNAME || undefined,
          password: v.REDIS_PASSWORD || undefined,
        }
      : undefined,
    redis: Boolean(v.REDIS_URL || v.REDIS_SENTINELS),
    redisWaitReplicas: v.REDIS_WAIT_REPLICAS,
    redisWaitTimeoutMs: v.REDIS_WAIT_TIMEOUT_MS,
    redisPrefix: v.REDIS_PREFIX,
    redisFanoutChannelMin: v.REDIS_FANOUT_CHANNEL_MIN,
    ingressClaimIdleMs: v.INGRESS_CLAIM_IDLE_MS,
    heartbeatMs: v.HEARTBEAT_MS,
    replayMaxEvents: v.REPLAY_MAX_EVENTS,
    replayMaxBytes: v.REPLAY_MAX_BYTES,
    replayTtlMs: v.REPLAY_TTL_MS,
    streamsPerUserMax: v.STREAMS_PER_USER_MAX,
    streamsMax: v.STREAMS_MAX,
    publicTopics: v.PUBLIC_TOPICS.split(',').map((p) => p.trim()).filter(Boolean),
    topicsPerStreamMax: v.TOPICS_PER_STREAM_MAX,
    shutdownGraceMs: v.SHUTDOWN_GRACE_MS,
    streamMaxAgeMs: v.STREAM_MAX_AGE_MS,
    tokenMaxLifetimeS: v.TOKEN_MAX_LIFETIME_S,
    idempotencyWindowMs: v.IDEMPOTENCY_WINDOW_MS,
    devAuth,
    logLevel: v.LOG_LEVEL,
    corsOrigins: v.CORS_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean),
    rateLimitWindowMs: v.RATE_LIMIT_WINDOW_MS,
    rateLimitDevToken: v.RATE_LIMIT_DEV_TOKEN,
    rateLimitTickets: v.RATE_LIMIT_TICKETS,
    rateLimitStreamOpensPerUser: v.RATE_LIMIT_STREAM_OPENS_PER_USER,
    rateLimitStreamOpensPerAddress: v.RATE_LIMIT_STREAM_OPENS_PER_ADDRESS,
    warnings: [
      ...nearMisses(Object.keys(env)),
      ...unusedCredentials(v),
      ...(devAuth ? ['dev auth is ON: POST /v1/dev/token mints any token, for anyone who can reach this instance'] : []),
    ],
  } satisfies HubConfig);
}

/**
 * Sentinel is the other way to reach Redis: it names the master, so REDIS_URL
 * (and a cluster) cannot come with it.
 */
function redisSentinelProblems(v: z.infer<typeof schema>): string[] {
  const problems: string[] = [];
  if (v.REDIS_SENTINELS) {
    if (!v.REDIS_SENTINEL_MASTER) problems.push('REDIS_SENTINELS: needs REDIS_SENTINEL_MASTER, the name the sentinels monitor the master under');
    if (v.REDIS_URL) problems.push('REDIS_SENTINELS: cannot be set with REDIS_URL; the sentinels say where the master is');
    if (v.REDIS_CLUSTER) problems.push('REDIS_SENTINELS: cannot be set with REDIS_CLUSTER; a Redis Cluster fails over by itself');
  } else {
    for (const name of ['REDIS_SENTINEL_MASTER', 'REDIS_SENTINEL_PASSWORD'] as const) {
      if (v[name] !== undefined) problems.push(`${name}: needs REDIS_SENTINELS`);
    }
  }
  return problems;
}

/**
 * REDIS_USERNAME and REDIS_PASSWORD are common names, which the environment
 * may hold for another program (a Redis server's own container): without
 * Sentinel they are left alone, with a word, rather than stop start-up.
 */
function unusedCredentials(v: z.infer<typeof schema>): string[] {
  if (v.REDIS_SENTINELS) return [];
  return (['REDIS_USERNAME', 'REDIS_PASSWORD'] as const)
    .filter((name) => v[name])
    .map((name) => `${name} is only read with REDIS_SENTINELS; with REDIS_URL, credentials go in the URL (redis://user:password@host) (ignored)`);
}

/** Every variable the hub reads: the docs and the Kubernetes ConfigMap are checked against it. */
export const KNOWN_VARS: readonly string[] = Object.keys(schema.shape);

/**
 * Unknown variables never stop start-up: Kubernetes injects `HERALD_SERVICE_HOST`,
 * `HERALD_PORT`, … for a Service named herald, and wrappers set their own. A name
 * one or two keystrokes from a known one is most likely a typo, so it is named.
 */
function nearMisses(names: string[]): string[] {
  const known = new Set(KNOWN_VARS);
  return names.flatMap((name) => {
    if (known.has(name)) return [];
    const meant = KNOWN_VARS.find((k) => editDistance(name.toUpperCase(), k) <= Math.max(1, Math.floor(k.length / 6)));
    return meant ? [`${name} is not a Herald variable; did you mean ${meant}? (ignored)`] : [];
  });
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}
