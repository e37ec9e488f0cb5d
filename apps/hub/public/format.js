// How the demo page writes values it did not make: event data, times.

const MAX_COMPACT = 160;

/** A value as one line of JSON, cut to a length that fits a list item. */
export function compact(value) {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > MAX_COMPACT ? `${text.slice(0, MAX_COMPACT - 1)}…` : text;
}

/** A time of day in the reader's locale, from a Date or an ISO string. */
export function timeOf(when) {
  return new Date(when).toLocaleTimeString();
}
