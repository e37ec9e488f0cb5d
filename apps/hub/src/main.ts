import './lifecycle/v8-flags.js';
import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createHub } from './app.js';
import { ConfigError, HubConfig, loadConfig } from './config/config.js';
import { devSecretPath, keptDevSecret } from './config/dev-secret.js';
import { StreamDrain } from './stream/stream.drain.js';

function readConfig(): HubConfig {
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
}

/**
 * Without JWT_SECRET (never in production), the secret is kept beside the
 * SQLite file, so that a restart does not invalidate every token a developer
 * holds. Here rather than in loadConfig, which stays free of I/O: only the
 * process that serves reads and writes the file.
 */
function withDevSecret(config: HubConfig): { config: HubConfig; note?: string } {
  if (!config.jwtSecretGenerated) return { config };
  const file = devSecretPath(config.sqlitePath);
  if (file === undefined) return { config, note: 'JWT_SECRET is not set: using a random secret for this boot (SQLITE_PATH is :memory:)' };
  const kept = keptDevSecret(file);
  const note =
    'file' in kept
      ? `JWT_SECRET is not set: using the development secret ${kept.created ? 'made now and kept' : 'kept'} in ${kept.file}`
      : `JWT_SECRET is not set: using a random secret for this boot, as ${kept.problem}`;
  return { config: Object.assign(new HubConfig(), config, { jwtSecret: kept.secret }), note };
}

const LISTEN_BACKLOG = 4096;

/**
 * On every address, IPv6 and IPv4, as Node listens when given no host (Fastify
 * would take localhost); on IPv4 alone where the kernel has no IPv6, as Node does.
 */
async function listenEverywhere(app: NestFastifyApplication, port: number): Promise<void> {
  try {
    await app.listen({ port, host: '::', backlog: LISTEN_BACKLOG });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EAFNOSUPPORT') throw err;
    await app.listen({ port, host: '0.0.0.0', backlog: LISTEN_BACKLOG });
  }
}

const { config, note: secretNote } = withDevSecret(readConfig());
const logger = new Logger('Herald');
let created = false;
const started = (async () => {
  const app = await createHub(config);
  created = true;
  for (const warning of config.warnings) logger.warn(warning);
  // Node's default backlog (511) overflows when thousands of clients reconnect
  // at once (an instance died): each dropped SYN costs its client a 1 s
  // retransmit. The kernel caps it at net.core.somaxconn.
  await listenEverywhere(app, config.port);
  logger.log(`listening on http://localhost:${config.port} (${config.redis ? 'Redis' : 'embedded, in-process'} fan-out)`);
  if (secretNote) logger.warn(secretNote);
  return app;
})();
// Not Nest's enableShutdownHooks: it re-raises the signal once closed, so a
// clean drain ended with status 143, which orchestrators read as a failure.
// The order loses nothing: refuse new streams at once, end the open ones
// (each gives its place in the cluster-wide count back through Redis), then
// close the modules, Redis connections last. A signal before the modules are
// made (migrations, Redis, retried while the database is away) exits at once:
// nothing has been taken in yet. Once they are, it waits for the hub to be
// listening, then stops it the same way.
async function shutDown(signal: NodeJS.Signals): Promise<never> {
  if (!created) {
    logger.log(`${signal} while starting: nothing taken in yet, exiting`);
    process.exit(0);
  }
  logger.log(`${signal}: draining`);
  try {
    const app = await started;
    await app.get(StreamDrain).run();
    await app.close();
  } catch (err) {
    logger.error(`shutdown failed: ${(err as Error).stack ?? String(err)}`);
    process.exit(1);
  }
  process.exit(0);
}
// Once: a second Ctrl-C stops the process at once.
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => void shutDown(signal));
await started;
