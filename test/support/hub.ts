import { ConsoleLogger } from '@nestjs/common';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { createHub } from '../../apps/hub/src/app.js';
import { HubConfig, loadConfig } from '../../apps/hub/src/config/config.js';
import { StreamRegistry } from '../../apps/hub/src/stream/stream.registry.js';
import { publish } from './http.js';
import * as tokens from './tokens.js';

/** Kept here too for the tests that import it from this module. */
export { TEST_SECRET } from './tokens.js';

/** Records every log line (level, context, message) instead of printing it. */
export class CapturingLogger extends ConsoleLogger {
  readonly lines: string[] = [];
  protected override printMessages(messages: unknown[], context = '', logLevel = 'log'): void {
    for (const message of messages) {
      this.lines.push(`${logLevel} [${context}] ${typeof message === 'string' ? message : JSON.stringify(message)}`);
    }
  }
}

export interface TestHub {
  url: string;
  app: NestFastifyApplication;
  config: HubConfig;
  registry: StreamRegistry;
  logs: CapturingLogger;
  /** A user token signed with the hub's secret; `expiresIn` in seconds (default 3600). */
  userToken(sub: string, expiresIn?: number): string;
  /** A service token with the `events:publish` scope. */
  serviceToken(sub?: string): string;
  /** POST /v1/events with a service token; resolves to the raw response. */
  publish(body: unknown, token?: string): Promise<Response>;
  close(): Promise<void>;
}

/** Starts a hub in this process on 127.0.0.1 and a free port, with the given environment on top of test defaults. */
export async function startHub(env: Record<string, string> = {}): Promise<TestHub> {
  // A throwaway SQLite database per hub, unless the test names one.
  const config = loadConfig({ NODE_ENV: 'test', PORT: '0', JWT_SECRET: tokens.TEST_SECRET, LOG_LEVEL: 'debug', SQLITE_PATH: ':memory:', ...env });
  const logs = new CapturingLogger();
  logs.setLogLevels(['fatal', 'error', 'warn', 'log', 'debug', 'verbose']);
  const app = await createHub(config, { logger: logs });
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  const hub: TestHub = {
    url,
    app,
    config,
    registry: app.get(StreamRegistry),
    logs,
    userToken: (sub, expiresIn = 3600) => tokens.userToken(sub, expiresIn, config.jwtSecret),
    serviceToken: (sub = 'test-service') => tokens.serviceToken(sub, 3600, config.jwtSecret),
    publish: (body, token = hub.serviceToken()) => publish(hub, body, token),
    // fetch keeps idle sockets that server.close() would wait seconds for.
    close: () => {
      (app.getHttpServer() as import('node:http').Server).closeAllConnections();
      return app.close();
    },
  };
  return hub;
}
