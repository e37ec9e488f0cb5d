import { ConsoleLogger, LogLevel as NestLogLevel } from '@nestjs/common';
import type { RequestHandler } from 'express';
import { redactUrl } from '#herald/auth/credentials';
import { LOG_LEVELS, LogLevel } from '../config/config.js';

/** Nest's console logger with the levels up to LOG_LEVEL, as JSON lines in production. */
export function createLogger(level: LogLevel, json: boolean): ConsoleLogger {
  const levels: NestLogLevel[] = ['fatal', ...LOG_LEVELS.slice(0, LOG_LEVELS.indexOf(level) + 1)];
  return new ConsoleLogger({ logLevels: levels, json });
}

export function logsAt(config: { logLevel: LogLevel }, level: LogLevel): boolean {
  return LOG_LEVELS.indexOf(level) <= LOG_LEVELS.indexOf(config.logLevel);
}

/** One debug line per request, when it ends; credentials in the query are redacted. */
export function requestLogger(log: (line: string) => void): RequestHandler {
  return (request, response, next) => {
    const started = performance.now();
    response.once('close', () => {
      const ms = (performance.now() - started).toFixed(1);
      log(`${request.method} ${redactUrl(request.originalUrl)} ${response.statusCode} ${ms}ms`);
    });
    next();
  };
}
