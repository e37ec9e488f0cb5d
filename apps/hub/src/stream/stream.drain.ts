import { Injectable, Logger } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { HubConfig } from '../config/config.js';
import { Draining } from '../lifecycle/draining.js';
import { StreamRegistry } from './stream.registry.js';

const STEPS = 10;
/** Streams are ended over at most this long, so that their clients do not all reconnect elsewhere at once. */
const MAX_SPREAD_MS = 5000;
const POLL_MS = 50;

/**
 * On SIGTERM: readiness turns 503 and new streams are refused at once; open
 * streams are ended in steps over half of SHUTDOWN_GRACE_MS (at most 5 s), so
 * their clients reconnect to other instances and replay, without a stampede;
 * then it waits for them to be gone, at most until the grace period ends.
 * Called by main.ts before the application closes, not as a Nest shutdown
 * hook: those run after modules are destroyed, and ending a stream still
 * needs Redis (its place in the cluster-wide count is given back).
 */
@Injectable()
export class StreamDrain {
  private readonly logger = new Logger(StreamDrain.name);

  constructor(
    private readonly registry: StreamRegistry,
    private readonly draining: Draining,
    private readonly config: HubConfig,
  ) {}

  async run(): Promise<void> {
    this.draining.start();
    const deadline = Date.now() + this.config.shutdownGraceMs;
    const open = this.registry.size;
    const pause = Math.min(this.config.shutdownGraceMs / 2, MAX_SPREAD_MS) / STEPS;
    for (let step = STEPS; step > 0 && this.registry.size > 0; step--) {
      this.registry.endSome(Math.ceil(this.registry.size / step));
      if (step > 1) await sleep(pause);
    }
    while (this.registry.size > 0 && Date.now() < deadline) await sleep(POLL_MS);
    if (open > 0) this.logger.log(`drained ${open - this.registry.size} of ${open} streams`);
  }
}
