import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { RateLimitStore, WindowHits } from '../rate-limit.store.js';

const SWEEP_MS = 60_000;

@Injectable()
export class MemoryRateLimitStore extends RateLimitStore implements OnModuleDestroy {
  private readonly windows = new Map<string, { hits: number; endsAt: number }>();
  // Ended windows are dropped in a sweep, so a flood of distinct callers cannot grow the map forever.
  private readonly sweep = setInterval(() => {
    const now = Date.now();
    for (const [key, window] of this.windows) if (window.endsAt <= now) this.windows.delete(key);
  }, SWEEP_MS).unref();

  async hit(key: string, windowMs: number): Promise<WindowHits> {
    const now = Date.now();
    let window = this.windows.get(key);
    if (!window || window.endsAt <= now) {
      window = { hits: 0, endsAt: now + windowMs };
      this.windows.set(key, window);
    }
    window.hits++;
    return { hits: window.hits, resetInMs: window.endsAt - now };
  }

  onModuleDestroy(): void {
    clearInterval(this.sweep);
  }
}
