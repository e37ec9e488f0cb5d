import { Injectable } from '@nestjs/common';

/**
 * Whether this instance is shutting down: readiness turns 503 and new streams
 * are refused, so the load balancer sends clients elsewhere.
 */
@Injectable()
export class Draining {
  private draining = false;

  get active(): boolean {
    return this.draining;
  }

  start(): void {
    this.draining = true;
  }
}
