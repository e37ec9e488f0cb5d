import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { HubConfig } from '../config/config.js';
import { Draining } from '../lifecycle/draining.js';
import { StreamRegistry } from './stream.registry.js';

const POLL_MS = 50;

/**
 * On SIGTERM: refuse new streams, end the open ones so their clients reconnect
 * to another instance and replay, and wait for them to go, at most
 * SHUTDOWN_GRACE_MS.
 */
@Injectable()
export class StreamDrain implements BeforeApplicationShutdown {
  private readonly logger = new Logger(StreamDrain.name);

  constructor(
    private readonly registry: StreamRegistry,
    private readonly draining: Draining,
    private readonly config: HubConfig,
  ) {}

  async beforeApplicationShutdown(): Promise<void> {
    this.draining.start();
    const open = this.registry.size;
    this.registry.endAll();
    const deadline = Date.now() + this.config.shutdownGraceMs;
    while (this.registry.size > 0 && Date.now() < deadline) await sleep(POLL_MS);
    if (open > 0) this.logger.log(`drained ${open - this.registry.size} of ${open} streams`);
  }
}
