/**
 * Checks on what a stream received: numbered events ({n}) for loss and
 * duplicates, event ids (`<ms>-<seq>`) for order.
 */
import { compareEventIds, isEventId } from '../../libs/contracts/event-id.js';

/** from, from + 1, …, to - 1. */
export const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

/** The n that occur more than once. */
export function duplicates(ns: number[]): number[] {
  const seen = new Set<number>();
  const dups = new Set<number>();
  for (const n of ns) (seen.has(n) ? dups : seen).add(n);
  return [...dups];
}

/** Orders two event (or Redis entry) ids, `<ms>-<seq>` or `<ms>`; throws for anything else. */
export function compareIds(a: string, b: string): number {
  for (const id of [a, b]) {
    if (!isEventId(id)) throw new Error(`not an event id: ${JSON.stringify(id)}`);
  }
  return compareEventIds(a, b);
}

/** The ids (with their position) that are not strictly greater than the one before, or not ids at all. */
export function notIncreasing(ids: string[]): string[] {
  const bad: string[] = [];
  for (let i = 1; i < ids.length; i++) {
    const [before, id] = [ids[i - 1], ids[i]];
    if (!isEventId(before) || !isEventId(id) || compareEventIds(before, id) >= 0) bad.push(`#${i}: ${before} then ${id}`);
  }
  return bad;
}

/** Fails unless the ids are strictly increasing. */
export function expectIncreasing(ids: string[]): void {
  expect(notIncreasing(ids)).toEqual([]);
}
