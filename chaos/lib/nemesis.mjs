// The fault scheduler. Faults come in lanes, one per resource, each drawn
// from its own generator forked from CHAOS_SEED, so the schedule is the same
// for the same seed and length: the hubs (SIGKILL of one, restarted after a
// while; a rolling restart by SIGTERM, one hub after the other), Redis
// (SIGTERM or SIGKILL, restarted after a while), PostgreSQL (fast or
// immediate shutdown, restarted after a while), the network (a delay on every
// chunk through the proxy, or every connection cut), a client (a tab stops
// reading while large events are published to its user), and, not a fault,
// tabs opened while everything goes on. Within a lane faults follow each
// other (a fault starts at its planned time or once the one before it is
// over); lanes overlap freely. Each lane's kinds are used in turn (shuffled),
// so that a short run sees every kind. At the end, `stop()` ends every fault
// at once (what is down comes back) and waits for that.
import { now, sleep } from './util.mjs';

const LANES = [
  { lane: 'hubs', kinds: ['hub-kill', 'hub-rolling-restart'], first: [5, 9], gap: [3, 9] },
  { lane: 'redis', kinds: ['redis-stop', 'redis-kill'], first: [5, 11], gap: [6, 16] },
  { lane: 'postgres', kinds: ['pg-stop', 'pg-crash'], first: [5, 11], gap: [6, 16] },
  { lane: 'network', kinds: ['net-delay', 'net-reset'], first: [5, 9], gap: [3, 9] },
  // The first stall comes alone, before the other faults: so every run sees a stalled client on a healthy cluster.
  { lane: 'client', kinds: ['client-stall'], first: [0.5, 1], gap: [3, 9] },
  { lane: 'tabs', kinds: ['tab-open'], first: [2, 8], gap: [4, 12] },
];

export const FAULT_KINDS = LANES.filter((l) => l.lane !== 'tabs').flatMap((l) => l.kinds);

/** The planned faults of each lane for a run of `seconds`: {lane, kind, at, duration, ...params}. */
export function plan(rng, seconds, { hubs, tabs }) {
  const faults = [];
  for (const { lane, kinds, first, gap } of LANES) {
    const r = rng.fork(`lane:${lane}`);
    let at = r.between(first[0], first[1]);
    let turn = [];
    for (;;) {
      if (turn.length === 0) turn = r.shuffle([...kinds]);
      const kind = turn.shift();
      const fault = { lane, kind, at: round(at) };
      switch (kind) {
        case 'hub-kill':
          fault.hub = r.int(0, hubs - 1);
          fault.duration = round(r.between(1, 5));
          break;
        case 'hub-rolling-restart':
          fault.order = r.shuffle([...Array(hubs).keys()]);
          fault.duration = 12; // nominal: it takes what the drains and starts take
          break;
        case 'redis-stop':
        case 'redis-kill':
        case 'pg-stop':
        case 'pg-crash':
          fault.duration = round(r.between(1.5, 5));
          break;
        case 'net-delay':
          fault.delayMs = r.int(50, 600);
          fault.duration = round(r.between(2, 6));
          break;
        case 'net-reset':
          fault.duration = 0;
          break;
        case 'client-stall':
          fault.tab = r.int(0, tabs - 1);
          fault.duration = round(faults.some((f) => f.lane === lane) ? r.between(2, 8) : r.between(5, 8));
          break;
        case 'tab-open':
          fault.userIndex = r.int(0, 1_000_000);
          fault.mode = r.pick(['token', 'ticket']);
          fault.duration = 0;
          break;
      }
      const margin = lane === 'tabs' ? 4 : 1;
      if (fault.at >= seconds - margin) break;
      if (kind !== 'hub-rolling-restart') fault.duration = round(Math.min(fault.duration, seconds - fault.at));
      faults.push(fault);
      at += fault.duration + r.between(gap[0], gap[1]);
    }
  }
  return faults.sort((a, b) => a.at - b.at);
}

const round = (x) => Math.round(x * 10) / 10;

export function describe(fault) {
  switch (fault.kind) {
    case 'hub-kill':
      return `SIGKILL hub${fault.hub}, restarted after ${fault.duration} s`;
    case 'hub-rolling-restart':
      return `rolling restart by SIGTERM: ${fault.order.map((i) => `hub${i}`).join(', ')}`;
    case 'redis-stop':
      return `Redis stopped (SIGTERM) for ${fault.duration} s`;
    case 'redis-kill':
      return `Redis killed (SIGKILL) for ${fault.duration} s`;
    case 'pg-stop':
      return `PostgreSQL stopped (fast shutdown) for ${fault.duration} s`;
    case 'pg-crash':
      return `PostgreSQL crashed (immediate shutdown) for ${fault.duration} s`;
    case 'net-delay':
      return `network delay ${fault.delayMs} ms on the proxy for ${fault.duration} s`;
    case 'net-reset':
      return 'every proxied connection cut';
    case 'client-stall':
      return `tab #${fault.tab} stops reading for ${fault.duration} s, 32 KiB events flood its user`;
    case 'tab-open':
      return `a new tab (${fault.mode === 'ticket' ? 'stream tickets' : 'access_token'})`;
    default:
      return fault.kind;
  }
}

export class Nemesis {
  constructor({ faults, clock, log, hubs, redis, postgres, proxy, tabs, allTabs, flood, openTab, users }) {
    Object.assign(this, { faults, clock, log, hubs, redis, postgres, proxy, tabs, allTabs, flood, openTab, users });
    this.controller = new AbortController();
    this.done = [];
    this.executed = [];
  }

  start() {
    const lanes = new Map();
    for (const fault of this.faults) {
      if (!lanes.has(fault.lane)) lanes.set(fault.lane, []);
      lanes.get(fault.lane).push(fault);
    }
    for (const faults of lanes.values()) this.done.push(this.runLane(faults));
  }

  async runLane(faults) {
    const { signal } = this.controller;
    for (const fault of faults) {
      await sleep(this.clock.start + fault.at * 1000 - now(), signal);
      if (signal.aborted) return;
      const record = { ...fault, startedAt: this.clock.seconds(), note: '' };
      this.executed.push(record);
      this.log(`fault ${fault.kind}: ${describe(fault)}`);
      try {
        record.note = (await this.execute(fault, signal)) ?? '';
      } catch (err) {
        record.note = `failed: ${err.message}`;
        this.log(`fault ${fault.kind} failed: ${err.stack ?? err}`);
      }
      record.endedAt = this.clock.seconds();
      this.log(`fault ${fault.kind} over after ${(record.endedAt - record.startedAt).toFixed(1)} s${record.note ? `: ${record.note}` : ''}`);
    }
  }

  async execute(fault, signal) {
    const ms = fault.duration * 1000;
    switch (fault.kind) {
      case 'hub-kill': {
        const hub = this.hubs[fault.hub];
        const pid = hub.pid;
        await hub.stop('SIGKILL');
        await sleep(ms, signal);
        await hub.start();
        return `pid ${pid} killed`;
      }
      case 'hub-rolling-restart': {
        const notes = [];
        for (const index of fault.order) {
          if (signal.aborted) break;
          const hub = this.hubs[index];
          const result = await hub.stop('SIGTERM', 15_000);
          await hub.start();
          let ready = 'ready';
          await hub.waitReady(20_000).catch(() => (ready = 'not ready within 20 s'));
          notes.push(`hub${index} drained in ${result?.ms ?? 0} ms (exit ${result?.code ?? result?.signal}), ${ready}`);
          if (result && result.code !== 0) this.log(`hub${index} exited with ${result.code ?? result.signal} after SIGTERM`);
          fault.exitCodes = [...(fault.exitCodes ?? []), result?.code ?? result?.signal];
        }
        return notes.join('; ');
      }
      case 'redis-stop':
      case 'redis-kill': {
        if (fault.kind === 'redis-stop') await this.redis.stop();
        else await this.redis.kill();
        await sleep(ms, signal);
        await this.redis.start();
        return '';
      }
      case 'pg-stop':
      case 'pg-crash': {
        await this.postgres.stop(fault.kind === 'pg-stop' ? 'fast' : 'immediate');
        await sleep(ms, signal);
        await this.postgres.start();
        return '';
      }
      case 'net-delay': {
        this.proxy.setDelay(fault.delayMs);
        await sleep(ms, signal);
        this.proxy.setDelay(0);
        return '';
      }
      case 'net-reset':
        return `${this.proxy.resetAll()} sockets cut`;
      case 'client-stall': {
        // The planned tab, or the next one whose stream is open (one that is reconnecting has no
        // connection to stall), of a user with several tabs: the others must not miss anything meanwhile.
        const n = this.tabs.length;
        const tabsOf = (user) => this.tabs.filter((t) => t.user === user).length;
        const candidates = Array.from({ length: n }, (_, i) => this.tabs[(fault.tab + i) % n]).filter((t) => tabsOf(t.user) > 1);
        const tab = candidates.find((t) => t.connected && !t.paused && this.proxy.byClientPort.has(t.localPort)) ?? candidates[0];
        tab.stall(ms, this.proxy);
        // The flood goes on until a hub drops a stream for not reading (after ~3 s of it on a
        // healthy cluster), 8 s at most: that bounds what the run stores in Redis.
        const drops = () => this.hubs.reduce((sum, hub) => sum + hub.drops, 0);
        const before = drops();
        const floodStart = Date.now();
        const floodBefore = this.flood.q;
        await this.flood.burst(tab.user, Math.min(ms, 8000), signal, () => drops() > before);
        const flooded = `${this.flood.q - floodBefore} events (${(((this.flood.q - floodBefore) * 32) / 1024).toFixed(1)} MiB) in ${((Date.now() - floodStart) / 1000).toFixed(1)} s`;
        await sleep(floodStart + ms - Date.now(), signal);
        tab.resume();
        const dropped = drops() > before ? 'dropped by its hub' : 'not dropped';
        return `${tab.id}: ${tab.stalledAtProxy ? '' : 'reconnecting, so not stalled at the proxy; '}flooded ${flooded}; ${dropped}`;
      }
      case 'tab-open': {
        // The planned user, or the next one with fewer than 4 tabs: a user at STREAMS_PER_USER_MAX (8)
        // would be refused (429) whenever a stream of a killed hub still counts.
        const n = this.users.length;
        const user = Array.from({ length: n }, (_, i) => this.users[(fault.userIndex + i) % n]).find(
          (u) => this.allTabs().filter((t) => t.user === u).length < 4,
        );
        if (!user) return 'every user has 4 tabs: none opened';
        const tab = await this.openTab(user, fault.mode);
        return tab.id;
      }
      default:
        throw new Error(`unknown fault ${fault.kind}`);
    }
  }

  /** Ends every fault at once and waits until each lane has undone its own. */
  async stop() {
    this.controller.abort();
    await Promise.all(this.done);
  }
}
