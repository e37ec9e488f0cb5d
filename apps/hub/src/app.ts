import type { LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Server } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DestinationStream } from 'pino';
import { HubConfig } from './config/config.js';
import { MAX_BATCH_BYTES, MAX_ENVELOPE_BYTES } from '#herald/contracts/envelope';
import { HttpErrorFilter } from './errors/http-error.filter.js';
import { BATCH_PATH } from './publish/events.controller.js';
import { answerClientErrors } from './requests/client-errors.js';
import { demoPage } from './requests/demo-page.js';
import { jsonBody } from './requests/json-body.js';
import { HubModule } from './hub.module.js';
import { createLogging, REQUEST_ID_HEADER } from './logging/logger.js';
import { mountOpenApi } from './openapi/openapi.js';
import { useLeanSseResponses } from './stream/sse-response.js';

/** The demo page (GET /): plain files, copied next to the build by `npm run build`. */
const PUBLIC_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../public');

/** Longer than any load balancer's idle timeout, so the balancer closes idle keep-alive connections first. */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

export interface HubOptions {
  /** Takes every log line, request lines included, as text (tests capture them). */
  logger?: LoggerService;
  /** In production, where the JSON lines go instead of stdout (tests capture them). */
  logDestination?: DestinationStream;
}

/** The hub, configured but not listening: used by main.ts and by the tests alike. */
export async function createHub(config: HubConfig, options: HubOptions = {}): Promise<NestExpressApplication> {
  const logging = createLogging(config, { logger: options.logger, destination: options.logDestination });
  useLeanSseResponses();
  const app = await NestFactory.create<NestExpressApplication>(HubModule.forRoot(config), {
    bodyParser: false,
    logger: logging.nest,
    // By the time the server closes, the drain has ended every stream; what is
    // left are idle keep-alive sockets (some clients open spares that never
    // send a request), which would hold the exit back for seconds.
    forceCloseConnections: true,
  });
  app.disable('x-powered-by');
  // First, so that every request has an id and a line, CORS preflights included.
  app.use(logging.requests);
  if (config.corsOrigins.length > 0) {
    app.enableCors({ origin: [...config.corsOrigins], credentials: true, exposedHeaders: [REQUEST_ID_HEADER] });
  }
  // A batch has a larger limit of its own; the general parser then finds its body read.
  app.use(BATCH_PATH, ...jsonBody(MAX_BATCH_BYTES));
  app.use(...jsonBody(MAX_ENVELOPE_BYTES));
  app.use(demoPage(PUBLIC_DIR));
  mountOpenApi(app);
  app.useGlobalFilters(new HttpErrorFilter());
  const server = app.getHttpServer() as Server;
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1000;
  answerClientErrors(server);
  return app;
}
