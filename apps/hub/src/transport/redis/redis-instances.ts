import { Injectable, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { Instance } from '../../lifecycle/instance.js';
import { RedisConnections } from './redis.connections.js';

/** Often enough that a silent instance is noticed within seconds. */
export const BEAT_MS = 1000;
/** An instance silent for this long is forgotten altogether. */
const FORGET_MS = 60_000;

/**
 * The hub's instances as Redis sees them: each beats every second, and keeps
 * the last view of everyone's beats. What counts as gone is the reader's
 * call: the ingress takes over a consumer's entries after a few silent
 * seconds (safe even if it was only slow), stream counts wait longer.
 */
@Injectable()
export class RedisInstances implements OnModuleInit, OnModuleDestroy {
  readonly me: string;
  /** Silence of each instance, in ms, as of the last beat; this one's is 0. */
  private silence = new Map<string, number>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly redis: RedisConnections,
    instance: Instance,
  ) {
    this.me = instance.id;
    this.silence.set(this.me, 0);
  }

  onModuleInit(): void {
    // While Redis is away a beat fails; the next one after it is back catches up.
    const beat = () => void this.beat().catch(() => undefined);
    this.timer = setInterval(beat, BEAT_MS);
    this.redis.commands.on('ready', beat);
    beat();
  }

  async onModuleDestroy(): Promise<void> {
    clearInterval(this.timer);
    const { commands, keys, fanoutChannel } = this.redis;
    await commands.zrem(keys.instances, this.me).catch(() => undefined);
    if (fanoutChannel) await commands.srem(keys.fanoutFollowers, this.me).catch(() => undefined);
  }

  /** Beats now and refreshes the view of the others. Throws while Redis is away. */
  async beat(): Promise<void> {
    const { keys, topology, fanoutChannel } = this.redis;
    const beatKeys = topology.oneSlot ? [keys.instances, keys.fanoutFollowers] : [keys.instances];
    const follows = fanoutChannel ? '1' : '0';
    const [now, ...beats] = await this.redis.scripts.heraldBeat(beatKeys.length, ...beatKeys, this.me, FORGET_MS, follows);
    const silence = new Map<string, number>();
    for (let i = 0; i < beats.length; i += 2) silence.set(beats[i], Number(now) - Number(beats[i + 1]));
    silence.set(this.me, 0);
    this.silence = silence;
  }

  /** Instances heard of within `withinMs` (this one always). */
  live(withinMs: number): string[] {
    return [...this.silence].filter(([, ms]) => ms <= withinMs).map(([id]) => id);
  }

  /** Whether `id` has been silent for longer than `ms` (or was never heard of). */
  isSilent(id: string, ms: number): boolean {
    return (this.silence.get(id) ?? Infinity) > ms;
  }
}
