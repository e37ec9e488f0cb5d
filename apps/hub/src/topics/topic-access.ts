import { ForbiddenException, Injectable } from '@nestjs/common';
import type { Principal } from '#herald/auth/principal';
import { isTopic, TOPIC_RULE, topicMatches } from '#herald/contracts/topic';
import { HubConfig } from '../config/config.js';
import { FieldError } from '../errors/errors.js';

/**
 * Who may follow and publish to which topics: a user follows the topics its
 * token's `topics` claim matches and those under PUBLIC_TOPICS; a service
 * token with the claim publishes only to the topics it matches.
 */
@Injectable()
export class TopicAccess {
  constructor(private readonly config: HubConfig) {}

  /**
   * The topics a stream asks to follow (`?topic=` once per topic, or a change
   * of topics), checked and de-duplicated.
   * @throws 400 naming a malformed topic or too many, 403 naming one the user may not follow.
   */
  followable(user: Principal, requested: unknown, field: string): string[] {
    const list = requested === undefined ? [] : Array.isArray(requested) ? requested : [requested];
    const max = this.config.topicsPerStreamMax;
    for (const topic of list) {
      if (!isTopic(topic)) throw new FieldError(field, `${JSON.stringify(topic)} is not a topic (${TOPIC_RULE})`);
    }
    const topics = [...new Set(list as string[])];
    if (topics.length > max) throw new FieldError(field, `at most ${max} topics per stream (TOPICS_PER_STREAM_MAX)`);
    for (const topic of topics) {
      if (!topicMatches(topic, user.topics ?? [], this.config.publicTopics)) {
        throw forbidden(field, topic, `may not follow topic "${topic}": neither the token's topics claim nor PUBLIC_TOPICS admits it`);
      }
    }
    return topics;
  }

  /** @throws 403 naming the first of `topics` a service limited to some topics may not publish to. */
  checkPublish(service: Principal, topics: readonly string[], field: string): void {
    if (service.topics === undefined) return;
    const refused = topics.find((topic) => !topicMatches(topic, service.topics!));
    if (refused !== undefined) {
      throw forbidden(field, refused, `this service may not publish to topic "${refused}" (its token's topics claim does not admit it)`);
    }
  }
}

function forbidden(field: string, topic: string, message: string): ForbiddenException {
  return new ForbiddenException({ statusCode: 403, error: 'Forbidden', message, field, topic });
}
