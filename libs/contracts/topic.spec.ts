import { isTopic, isTopicPattern, topicMatches, topicOfSource, topicSource } from './topic.js';

describe('topics', () => {
  it('names a topic by the charset of user ids', () => {
    expect(isTopic('post:42')).toBe(true);
    expect(isTopic('team@acme.example')).toBe(true);
    expect(isTopic('')).toBe(false);
    expect(isTopic('a'.repeat(129))).toBe(false);
    expect(isTopic('post 42')).toBe(false);
    expect(isTopic('post:*')).toBe(false);
  });

  it('travels as a source no user id can be', () => {
    expect(topicSource('post:42')).toBe('#post:42');
    expect(topicOfSource('#post:42')).toBe('post:42');
    expect(topicOfSource('alice')).toBeUndefined();
  });

  it.each([
    ['post:42', ['post:42'], [], true],
    ['post:42', ['post:*'], [], true],
    ['post:42', ['*'], [], true],
    ['post:42', ['post:4'], [], false],
    ['post:42', ['team:*'], [], false],
    ['post:42', [], ['post:'], true],
    ['post:42', [], ['team:'], false],
    ['post:42', [], [], false],
  ])('%s with patterns %j and public prefixes %j: %s', (topic, patterns, prefixes, expected) => {
    expect(topicMatches(topic, patterns, prefixes)).toBe(expected);
  });

  it('accepts a name or a prefix ending in * as a pattern', () => {
    expect(['post:*', '*', 'team:7'].every(isTopicPattern)).toBe(true);
    expect(['', 'po*st', '**', 'post 1', 42].some(isTopicPattern)).toBe(false);
  });
});
