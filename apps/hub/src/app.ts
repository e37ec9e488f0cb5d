import type { LoggerService } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { type IncomingMessage, maxHeaderSize, type Server } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DestinationStream } from 'pino';
import { HubConfig } from './config/config.js';
import { MAX_BATCH_BYTES, MAX_ENVELOPE_BYTES } from '#herald/contracts/envelope';
import { HttpErrorFilter } from './errors/http-error.filter.js';
import { BATCH_PATH } from './publish/events.controller.js';
import { answerClientError } from './requests/client-errors.js';
import { demoPage } from './requests/demo-page.js';
import { parseJsonBodies } from './requests/json-body.js';
import { HubModule } from './hub.module.js';
import { createLogging, REQUEST_ID_HEADER, requestIdOf } from './logging/logger.js';
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
export async function createHub(config: HubConfig, options: HubOptions = {}): Promise<NestFastifyApplication> {
  const logging = createLogging(config, { logger: options.logger, destination: options.logDestination });
  useLeanSseResponses();
  const adapter = new FastifyAdapter({
    // The request logger, which runs first, gave the request its id.
    genReqId: (req: IncomingMessage) => requestIdOf(req) ?? '',
    clientErrorHandler: answerClientError,
    // Node's default, which Fastify turns off: a request still not received after 5 minutes gets a 408.
    requestTimeout: 300_000,
    // By the time the server closes, the drain has ended every stream; what is
    // left are idle keep-alive sockets (some clients open spares that never
    // send a request), which would hold the exit back for seconds.
    forceCloseConnections: true,
    // What clients have always had: a path matches in any case and with a
    // trailing slash, and a long id gets its handler's answer, not a 414.
    routerOptions: { caseSensitive: false, ignoreTrailingSlash: true, maxParamLength: maxHeaderSize },
  });
  const app = await NestFactory.create<NestFastifyApplication>(HubModule.forRoot(config), adapter, {
    bodyParser: false,
    logger: logging.nest,
  });
  const fastify = app.getHttpAdapter().getInstance();
  const server = app.getHttpServer() as Server;
  // Before Fastify's own listener, so that every request has an id and a line, CORS preflights included.
  server.prependListener('request', logging.requests);
  if (config.corsOrigins.length > 0) {
    app.enableCors({ origin: [...config.corsOrigins], credentials: true, exposedHeaders: [REQUEST_ID_HEADER] });
  }
  // A batch has a larger limit of its own.
  parseJsonBodies(fastify, MAX_ENVELOPE_BYTES, { [BATCH_PATH]: MAX_BATCH_BYTES });
  demoPage(fastify, PUBLIC_DIR);
  mountOpenApi(app);
  app.useGlobalFilters(new HttpErrorFilter());
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1000;
  return app;
}
