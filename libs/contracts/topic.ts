import { USER_ID_PATTERN } from './user-id.js';

/**
 * A topic: `post:42`, `team:7`. Topics share the charset of user ids; inside
 * the hub a topic travels as a source `#<topic>`, beside the users' sources
 * (their plain ids), and `#` is in neither charset, so the two never meet.
 */
export const TOPIC_PATTERN = USER_ID_PATTERN;
export const TOPIC_RULE = '1-128 characters of A-Z a-z 0-9 _ . : @ -';
const SOURCE_MARK = '#';

export function isTopic(value: unknown): value is string {
  return typeof value === 'string' && TOPIC_PATTERN.test(value);
}

export function topicSource(topic: string): string {
  return SOURCE_MARK + topic;
}

/** Where an event goes: its users, and its topics as sources (the users' list itself when there is no topic). */
export function sourcesOf(event: { readonly recipients: readonly string[]; readonly topics?: readonly string[] }): readonly string[] {
  const { recipients, topics = [] } = event;
  return topics.length === 0 ? recipients : [...recipients, ...topics.map(topicSource)];
}

/** The topic of a source, or undefined for a user's source. */
export function topicOfSource(source: string): string | undefined {
  return source.charCodeAt(0) === 35 ? source.slice(1) : undefined;
}

/**
 * A topic pattern, as a token's `topics` claim lists them: a topic name, or a
 * prefix followed by `*` (`post:*`; `*` alone matches every topic).
 */
export const TOPIC_PATTERN_PATTERN = /^[A-Za-z0-9_.:@-]{0,128}\*?$/;

export function isTopicPattern(value: unknown): value is string {
  return typeof value === 'string' && value !== '' && TOPIC_PATTERN_PATTERN.test(value);
}

/** Whether any of the patterns (or any of the public prefixes) admits the topic. */
export function topicMatches(topic: string, patterns: readonly string[], publicPrefixes: readonly string[] = []): boolean {
  for (const prefix of publicPrefixes) if (topic.startsWith(prefix)) return true;
  for (const pattern of patterns) {
    if (pattern.endsWith('*') ? topic.startsWith(pattern.slice(0, -1)) : topic === pattern) return true;
  }
  return false;
}
