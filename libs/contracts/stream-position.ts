/**
 * Where a stream is in every source it follows, as one SSE id. A stream that
 * follows only its user has the user's event id as its id (`<ms>-<seq>`). One
 * that also follows topics has one position per source, and each source's ids
 * are its own (in Redis, each source is a log of its own), so the id carries
 * them all, compactly:
 *
 *     <base>.<user>.<topic>.<topic>…
 *
 * `base` is the newest millisecond among the positions, in base 36; each
 * position is written as base minus its millisecond, in base 36 (recent ones
 * take one or two characters), with `-<seq>` when the sequence is not 0; a
 * topic's position is preceded by six base-36 characters of a hash of its
 * source, so a reconnect with another set of topics still finds the ones it
 * shares. Only `[0-9a-z.-]`: safe in a URL, in a header, in a cookie.
 */

import { EVENT_ID_PATTERN } from './event-id.js';

const HASH_LENGTH = 6;
const NUMBER = '[0-9a-z]{1,11}';
const POSITION = `${NUMBER}(?:-${NUMBER})?`;
const COMPOSITE_BODY = `${NUMBER}\\.${POSITION}(?:\\.[0-9a-z]{${HASH_LENGTH}}${POSITION})+`;
const COMPOSITE = new RegExp(`^${COMPOSITE_BODY}$`);

/** Six base-36 characters of FNV-1a over the source's name (30 bits: 36^6 holds them). */
export function sourceHash(source: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < source.length; i++) {
    hash ^= source.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return ((hash >>> 2) % 36 ** HASH_LENGTH).toString(36).padStart(HASH_LENGTH, '0');
}

function split(id: string): [ms: number, seq: number] {
  const dash = id.indexOf('-');
  return dash === -1 ? [Number(id), 0] : [Number(id.slice(0, dash)), Number(id.slice(dash + 1))];
}

function relative(base: number, id: string): string {
  const [ms, seq] = split(id);
  const delta = (base - ms).toString(36);
  return seq === 0 ? delta : `${delta}-${seq.toString(36)}`;
}

/**
 * The stream's id. @param hashes the `sourceHash` of each topic followed,
 * @param positions each one's last event id, in the same order.
 */
export function encodeStreamPosition(user: string, hashes: readonly string[], positions: readonly string[]): string {
  if (hashes.length === 0) return user;
  let base = split(user)[0];
  for (const position of positions) base = Math.max(base, split(position)[0]);
  let id = `${base.toString(36)}.${relative(base, user)}`;
  for (let i = 0; i < hashes.length; i++) id += `.${hashes[i]}${relative(base, positions[i])}`;
  return id;
}

export interface DecodedStreamPosition {
  readonly user: string;
  /** Event ids by source hash. */
  readonly topics: ReadonlyMap<string, string>;
}

function absolute(base: number, text: string): string | null {
  const dash = text.indexOf('-');
  const delta = parseInt(dash === -1 ? text : text.slice(0, dash), 36);
  const seq = dash === -1 ? 0 : parseInt(text.slice(dash + 1), 36);
  if (!Number.isSafeInteger(delta) || !Number.isSafeInteger(seq) || delta > base) return null;
  return `${base - delta}-${seq}`;
}

/** The positions in a stream id; null when it is not one this hub issues. */
export function decodeStreamPosition(id: string): DecodedStreamPosition | null {
  if (EVENT_ID_PATTERN.test(id)) return { user: id, topics: new Map() };
  if (id.length > 64 * 1024 || !COMPOSITE.test(id)) return null;
  const parts = id.split('.');
  const base = parseInt(parts[0], 36);
  if (!Number.isSafeInteger(base)) return null;
  const user = absolute(base, parts[1]);
  if (user === null) return null;
  const topics = new Map<string, string>();
  for (let i = 2; i < parts.length; i++) {
    const position = absolute(base, parts[i].slice(HASH_LENGTH));
    if (position === null) return null;
    topics.set(parts[i].slice(0, HASH_LENGTH), position);
  }
  return { user, topics };
}

/** A stream id, plain or with topics: what `Last-Event-ID` may carry. */
export function isStreamPosition(id: string): boolean {
  return decodeStreamPosition(id) !== null;
}

/** For the API document: a plain event id, or one with topics. */
export const STREAM_POSITION_PATTERN = new RegExp(`^(?:${EVENT_ID_PATTERN.source.slice(1, -1)}|${COMPOSITE_BODY})$`);
