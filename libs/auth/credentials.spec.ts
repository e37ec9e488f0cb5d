import { readCookie, redactUrl } from './credentials.js';

describe('redactUrl', () => {
  it.each([
    ['/v1/stream?access_token=abc.def.ghi', '/v1/stream?access_token=[redacted]'],
    ['/v1/stream?ticket=xyz&lastEventId=5-0', '/v1/stream?ticket=[redacted]&lastEventId=5-0'],
    ['/v1/stream?lastEventId=5-0&access_token=a%20b&ticket=t', '/v1/stream?lastEventId=5-0&access_token=[redacted]&ticket=[redacted]'],
    ['/v1/stream?my_access_token=keep', '/v1/stream?my_access_token=keep'],
    ['/v1/stream?access%5Ftoken=abc&%74icket=t', '/v1/stream?access%5Ftoken=[redacted]&%74icket=[redacted]'],
    ['/v1/stream?access_token', '/v1/stream?access_token=[redacted]'],
    ['/health/live', '/health/live'],
    ['/v1/stream?access_token[]=abc', '/v1/stream?access_token[]=[redacted]'],
    ['/v1/stream?access_token%5B0%5D=abc&lastEventId=1', '/v1/stream?access_token%5B0%5D=[redacted]&lastEventId=1'],
    ['/v1/stream?ACCESS_TOKEN=abc&Ticket=t', '/v1/stream?ACCESS_TOKEN=[redacted]&Ticket=[redacted]'],
    ['/v1/stream?access_token=a&access_token=b', '/v1/stream?access_token=[redacted]&access_token=[redacted]'],
  ])('%s → %s', (url, redacted) => {
    expect(redactUrl(url)).toBe(redacted);
  });
});

describe('readCookie', () => {
  it('finds a cookie among others and decodes it', () => {
    expect(readCookie('a=1; herald_token=x%2Ey; b=2', 'herald_token')).toBe('x.y');
    expect(readCookie('a=1', 'herald_token')).toBeUndefined();
    expect(readCookie(undefined, 'herald_token')).toBeUndefined();
  });
});
