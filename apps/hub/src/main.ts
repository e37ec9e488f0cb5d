import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createHub } from './app.js';
import { ConfigError, HubConfig, loadConfig } from './config/config.js';
import { Draining } from './lifecycle/draining.js';

function readConfig(): HubConfig {
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
}

const config = readConfig();
const app = await createHub(config);
const logger = new Logger('Herald');
for (const warning of config.warnings) logger.warn(warning);
// Readiness must turn 503 the moment the signal comes: Nest's shutdown runs
// every module's destroy hook before the stream drain gets its turn.
const draining = app.get(Draining);
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => draining.start());
app.enableShutdownHooks(['SIGTERM', 'SIGINT']);
await app.listen(config.port);
logger.log(`listening on http://localhost:${config.port} (${config.redisUrl ? 'Redis' : 'embedded, in-process'} fan-out)`);
if (config.jwtSecretGenerated) {
  logger.warn('JWT_SECRET is not set: using a random secret for this boot; tokens end with the process');
}
