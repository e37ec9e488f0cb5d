import { Injectable } from '@nestjs/common';
import { HubConfig } from '../../config/config.js';
import { StreamCounter } from '../stream-counter.js';

/** One instance is the whole cluster: its own streams are all there is to count. */
@Injectable()
export class MemoryStreamCounter extends StreamCounter {
  constructor(private readonly config: HubConfig) {
    super();
  }

  async acquire(_userId: string, local: number): Promise<boolean> {
    return local <= this.config.streamsPerUserMax;
  }

  release(): void {}
}
