import { isTopic, TOPIC_PATTERN, TOPIC_RULE } from './topic.js';
import { isUserId, USER_ID_PATTERN } from './user-id.js';

/** What a service publishes, over HTTP (`POST /v1/events`) or into the Redis ingress. */
export interface PublishRequest {
  type: string;
  /** Users; empty when the event goes to topics only. */
  recipients: string[];
  /** Topics; every stream following one gets the event. */
  topics: string[];
  data: Record<string, unknown>;
  persist: boolean;
}

/** What a browser receives as the `data` of each event. */
export interface EventEnvelope<TData = Record<string, unknown>> {
  id: string;
  /** The topic the event came through; absent for an event to the user. */
  topic?: string;
  type: string;
  data: TData;
  createdAt: string;
}

export const EVENT_TYPE_PATTERN = /^[a-z0-9._-]{1,64}$/;
export const MAX_RECIPIENTS = 1000;
export const MAX_EVENT_TOPICS = 100;
export const MAX_ENVELOPE_BYTES = 64 * 1024;
/**
 * Event types the stream itself uses, and those the hub sends of its own
 * (`inbox.read`, which every tab trusts to update its badge): a published one
 * would be mistaken for them.
 */
export const RESERVED_EVENT_TYPES: ReadonlySet<string> = new Set(['ready', 'reset', 'expired', 'topics', 'error', 'inbox.read']);
/**
 * How deep `data` may nest (`data` itself is level 1). Far beyond any real
 * payload, and low enough that nothing downstream (serialising, logging) can
 * run out of stack on it.
 */
export const MAX_DATA_DEPTH = 64;

/**
 * The publish request as a JSON Schema (OpenAPI 3.1 and later), for the API
 * document. Built from the constants the validator below checks against, and
 * the validator takes its field names from it; test/openapi.test.ts sends the
 * hub bodies the schema accepts and refuses, and expects the same verdict.
 * What a schema cannot say: the body's size limit (413).
 */
export const PUBLISH_REQUEST_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['type'],
  // An event goes somewhere: to one recipient at least, or one topic. Either
  // list may be empty when the other is not (a normalised request has both).
  anyOf: ['recipients', 'topics'].map((field) => ({ required: [field], properties: { [field]: { minItems: 1 } } })),
  properties: {
    type: {
      type: 'string',
      pattern: EVENT_TYPE_PATTERN.source,
      not: { enum: [...RESERVED_EVENT_TYPES] },
      description: `1-64 characters of a-z 0-9 . _ -; ${[...RESERVED_EVENT_TYPES].join(', ')} are the hub's own`,
      example: 'comment.created',
    },
    recipients: {
      type: 'array',
      maxItems: MAX_RECIPIENTS,
      items: { type: 'string', pattern: USER_ID_PATTERN.source },
      description: "user ids (a token's `sub`); each distinct one gets the event once. Give recipients, topics or both",
      example: ['alice', 'bob'],
    },
    topics: {
      type: 'array',
      maxItems: MAX_EVENT_TOPICS,
      items: { type: 'string', pattern: TOPIC_PATTERN.source },
      description: 'topics (`post:42`); every stream following one gets the event, through that topic',
      example: ['post:42'],
    },
    data: {
      type: 'object',
      additionalProperties: true,
      default: {},
      description: "the event's payload, delivered as is",
      example: { postId: '42' },
    },
    persist: {
      type: 'boolean',
      default: true,
      description:
        "also store the event in each recipient's inbox (then the stream event carries notificationId); topics have no inbox, so it applies to recipients only",
    },
  },
};

const FIELDS: ReadonlySet<string> = new Set(Object.keys(PUBLISH_REQUEST_SCHEMA.properties));

export type Validation<T> = { ok: true; value: T } | { ok: false; field: string; message: string };

function invalid(field: string, message: string): Validation<never> {
  return { ok: false, field, message };
}

/** An unknown key as `field` names it: as sent, but an empty one as `""`, so that a field is never blank. */
function fieldName(key: string): string {
  return key === '' ? '""' : key;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Without recursion: the depth is what is being checked. */
function nestsDeeperThan(value: object, limit: number): boolean {
  const stack: [object, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    for (const child of Object.values(node)) {
      if (typeof child !== 'object' || child === null) continue;
      if (depth === limit) return true;
      stack.push([child, depth + 1]);
    }
  }
  return false;
}

/**
 * Checks a publish request and normalises it: recipients are de-duplicated
 * (each user gets an event once), `data` defaults to `{}` and `persist` to true.
 * Hand-written rather than schema-driven: the Redis ingress runs it for every
 * entry, and the first failing field is what the publisher needs to hear.
 */
export function validatePublishRequest(body: unknown): Validation<PublishRequest> {
  if (!isPlainObject(body)) return invalid('body', 'must be a JSON object');
  for (const key of Object.keys(body)) {
    if (!FIELDS.has(key)) return invalid(fieldName(key), `is not a known field (${[...FIELDS].join(', ')})`);
  }
  const { type, recipients, topics, data = {}, persist = true } = body;
  if (typeof type !== 'string' || !EVENT_TYPE_PATTERN.test(type)) {
    return invalid('type', 'must be 1-64 characters of a-z 0-9 . _ -');
  }
  if (RESERVED_EVENT_TYPES.has(type)) {
    return invalid('type', `"${type}" is reserved for the stream's own events`);
  }
  const users = checkNames(recipients, 'recipients', MAX_RECIPIENTS, 'user ids', isUserId);
  if (!users.ok) return users;
  const topicNames = checkNames(topics, 'topics', MAX_EVENT_TOPICS, 'topics', isTopic);
  if (!topicNames.ok) return topicNames;
  if (users.value.length === 0 && topicNames.value.length === 0) {
    return recipients === undefined && topics !== undefined
      ? invalid('topics', `must be an array of 1-${MAX_EVENT_TOPICS} topics, unless recipients are given`)
      : invalid('recipients', `must be an array of 1-${MAX_RECIPIENTS} user ids, unless topics are given`);
  }
  if (!isPlainObject(data)) return invalid('data', 'must be a JSON object');
  if (nestsDeeperThan(data, MAX_DATA_DEPTH)) return invalid('data', `nests deeper than ${MAX_DATA_DEPTH} levels`);
  if (typeof persist !== 'boolean') return invalid('persist', 'must be a boolean');
  return { ok: true, value: { type, recipients: users.value, topics: topicNames.value, data, persist } };
}

/** An optional list of names (absent or empty: none), de-duplicated. */
function checkNames(
  value: unknown,
  field: string,
  max: number,
  what: string,
  isName: (name: unknown) => boolean,
): Validation<string[]> {
  if (value === undefined) return { ok: true, value: [] };
  if (!Array.isArray(value) || value.length > max) return invalid(field, `must be an array of at most ${max} ${what}`);
  for (let i = 0; i < value.length; i++) {
    if (!isName(value[i])) return invalid(`${field}[${i}]`, `must be ${TOPIC_RULE}`);
  }
  return { ok: true, value: [...new Set(value as string[])] };
}

export const MAX_BATCH_EVENTS = 500;
/** A batch's body: room for many events, while each one keeps the limit of a single publish. */
export const MAX_BATCH_BYTES = 1024 * 1024;

/** `POST /v1/events/batch`: the publish request of each event, in an `events` array. */
export const PUBLISH_BATCH_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['events'],
  properties: {
    events: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_BATCH_EVENTS,
      items: PUBLISH_REQUEST_SCHEMA,
      description: `1-${MAX_BATCH_EVENTS} events, each as the body of POST /v1/events and within its ${MAX_ENVELOPE_BYTES}-byte limit`,
    },
  },
};

/**
 * Checks a batch: all of it or nothing. A problem is named by its place,
 * `events[3].recipients[0]`; an event whose JSON is over the limit of a
 * single publish is refused as `events[3]`.
 */
export function validatePublishBatch(body: unknown): Validation<PublishRequest[]> {
  if (!isPlainObject(body)) return invalid('body', 'must be a JSON object');
  for (const key of Object.keys(body)) {
    if (key !== 'events') return invalid(fieldName(key), 'is not a known field (events)');
  }
  const { events } = body;
  if (!Array.isArray(events) || events.length === 0 || events.length > MAX_BATCH_EVENTS) {
    return invalid('events', `must be an array of 1-${MAX_BATCH_EVENTS} events`);
  }
  const requests: PublishRequest[] = [];
  for (let i = 0; i < events.length; i++) {
    const result = validatePublishRequest(events[i]);
    if (!result.ok) return invalid(result.field === 'body' ? `events[${i}]` : `events[${i}].${result.field}`, result.message);
    if (Buffer.byteLength(JSON.stringify(events[i])) > MAX_ENVELOPE_BYTES) {
      return invalid(`events[${i}]`, `is larger than ${MAX_ENVELOPE_BYTES} bytes, the limit of one event`);
    }
    requests.push(result.value);
  }
  return { ok: true, value: requests };
}
