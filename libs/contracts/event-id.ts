/**
 * Event ids have the shape of Redis stream ids, `<milliseconds>-<sequence>`, so
 * the in-process log and the Redis log share one ordered id space, and an id
 * issued before a restart still compares correctly with one issued after it.
 * `0` is the position before any event.
 */
export const START_ID = '0';

export const EVENT_ID_PATTERN = /^(0|[1-9][0-9]{0,15})(?:-(0|[1-9][0-9]{0,15}))?$/;

export function isEventId(value: string): boolean {
  return EVENT_ID_PATTERN.test(value);
}

/**
 * Orders two well-formed ids without allocating: on the hot path every live
 * event is compared with the last id its stream sent.
 */
export function compareEventIds(a: string, b: string): number {
  const aDash = dashIndex(a);
  const bDash = dashIndex(b);
  const byMs = compareDigits(a, 0, aDash, b, 0, bDash);
  if (byMs !== 0) return byMs;
  return compareDigits(a, aDash + 1, a.length, b, bDash + 1, b.length);
}

function dashIndex(id: string): number {
  const at = id.indexOf('-');
  return at === -1 ? id.length : at;
}

/** Compares the unsigned decimal numbers `a[aFrom, aTo)` and `b[bFrom, bTo)`; an empty range is 0. */
function compareDigits(a: string, aFrom: number, aTo: number, b: string, bFrom: number, bTo: number): number {
  const aLen = Math.max(aTo - aFrom, 0);
  const bLen = Math.max(bTo - bFrom, 0);
  if (aLen !== bLen) {
    const aZero = aLen === 0 || (aLen === 1 && a[aFrom] === '0');
    const bZero = bLen === 0 || (bLen === 1 && b[bFrom] === '0');
    if (aZero && bZero) return 0;
    return aLen - bLen;
  }
  for (let i = 0; i < aLen; i++) {
    const d = a.charCodeAt(aFrom + i) - b.charCodeAt(bFrom + i);
    if (d !== 0) return d;
  }
  return 0;
}

/** The millisecond part of an id, for age-based trimming. */
export function eventIdMillis(id: string): number {
  return Number(id.slice(0, dashIndex(id)));
}
