/** Publishing without Nest: over HTTP, or into the Redis ingress. The Nest module is `@herald/publisher/nest`. */
export { HeraldHttpPublisher, PublishFailed, type HttpPublisherOptions, type PublishOptions } from './http-publisher.js';
export { HeraldIngressPublisher, PublishRejected, type EventMap, type IngressRedis, type PublishInput, type PublisherOptions } from './publisher.js';
