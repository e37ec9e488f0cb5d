import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { HubConfig } from '../config/config.js';
import { StreamRegistry } from './stream.registry.js';

const EXPIRY_TICK_MS = 1000;

/** The two shared timers of all streams: the heartbeat, and deadlines (token expiry, maximum age). No stream has its own. */
@Injectable()
export class StreamTimers implements OnModuleInit, OnModuleDestroy {
  private heartbeat?: NodeJS.Timeout;
  private expiry?: NodeJS.Timeout;

  constructor(
    private readonly registry: StreamRegistry,
    private readonly config: HubConfig,
  ) {}

  onModuleInit(): void {
    // Twice per HEARTBEAT_MS: a stream pings on a tick only when it sent nothing since the one before.
    this.heartbeat = setInterval(() => this.registry.pingAll(), this.config.heartbeatMs / 2);
    this.expiry = setInterval(() => this.registry.endDue(performance.now()), EXPIRY_TICK_MS);
  }

  onModuleDestroy(): void {
    clearInterval(this.heartbeat);
    clearInterval(this.expiry);
  }
}
