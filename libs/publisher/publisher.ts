import { MAX_ENVELOPE_BYTES, validatePublishRequest, Validation } from '@herald/contracts/envelope';

/**
 * Event types mapped to the shape of their data, for typed publishing:
 * `HeraldHttpPublisher<{ 'comment.created': { postId: string } }>` accepts
 * that type with that data only. The default takes any type and any object.
 */
export type EventMap = Record<string, object>;

/** Users, topics, or both: an event goes somewhere. */
type Audience = { recipients: string[]; topics?: string[] } | { recipients?: string[]; topics: string[] };

/** A publish request as a caller writes it: `data` and `persist` may be left out. */
export type PublishInput<Events extends object = EventMap> = {
  [Type in keyof Events & string]: Audience & { type: Type; data?: Events[Type]; persist?: boolean };
}[keyof Events & string];

/** The request was refused before it reached Redis; `field` names what is wrong. */
export class PublishRejected extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'PublishRejected';
  }
}

/**
 * What the ingress publisher needs of a Redis client: an ioredis `Redis` or
 * `Cluster` fits. Declared here so that the package's types do not require
 * ioredis of a service that publishes over HTTP only.
 */
export interface IngressRedis {
  xadd(key: string, id: string, field: string, value: string): Promise<string | null>;
}

export interface PublisherOptions {
  /** The hub's REDIS_PREFIX (default `herald:`). */
  prefix?: string;
}

/**
 * Publishes into Herald's Redis ingress from any Node service. An entry is
 * delivered exactly once, also if no hub instance runs at the moment; the
 * same validation as the hub's runs first, so a bad request fails here, at
 * the caller, instead of in the dead-letter stream.
 */
export class HeraldIngressPublisher<Events extends object = EventMap> {
  private readonly stream: string;

  constructor(
    private readonly redis: IngressRedis,
    options: PublisherOptions = {},
  ) {
    this.stream = `${options.prefix ?? 'herald:'}ingress`;
  }

  /** @returns the ingress entry id. @throws PublishRejected for an invalid request. */
  async publish(input: PublishInput<Events>): Promise<string> {
    const envelope = JSON.stringify(validated(validatePublishRequest(input), MAX_ENVELOPE_BYTES));
    return (await this.redis.xadd(this.stream, '*', 'envelope', envelope))!;
  }
}

/** The validated value, or the field it fails on as a PublishRejected; over `maxBytes` as JSON, `body`. */
export function validated<T>(result: Validation<T>, maxBytes?: number): T {
  if (!result.ok) throw new PublishRejected(result.field, result.message);
  if (maxBytes !== undefined && Buffer.byteLength(JSON.stringify(result.value)) > maxBytes) {
    throw new PublishRejected('body', `larger than ${maxBytes} bytes`);
  }
  return result.value;
}
