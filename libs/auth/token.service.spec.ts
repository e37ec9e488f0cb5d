import { jest } from '@jest/globals';
import { UnauthorizedException } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { createSecretKey } from 'node:crypto';
import { TokenService } from './token.service.js';

const secret = createSecretKey(Buffer.from('a-secret-long-enough-for-hs256-tests'));

function tokens() {
  const jwt = new JwtService({ secret });
  const service = new TokenService(jwt, { secret: 'unused' });
  return { jwt, service, checks: jest.spyOn(jwt, 'verify') };
}

afterEach(() => jest.restoreAllMocks());

describe('TokenService.verify, tokens verified lately', () => {
  it('answers a token seen before from memory, with the same principal', () => {
    const { service, checks } = tokens();
    const token = service.sign({ sub: 'svc', scope: 'events:publish', expiresIn: 60 });
    const first = service.verify(token);
    expect(service.verify(token)).toBe(first);
    expect(checks).toHaveBeenCalledTimes(1);
  });

  it('refuses a kept token once it expired, saying so', () => {
    const { service } = tokens();
    const token = service.sign({ sub: 'alice', expiresIn: 1 });
    service.verify(token);
    const later = Date.now() + 2000;
    jest.spyOn(Date, 'now').mockReturnValue(later);
    expect(() => service.verify(token)).toThrow(new UnauthorizedException('token expired'));
  });

  it('keeps only tokens that passed: a token with another signature is checked, and refused', () => {
    const { service, checks } = tokens();
    const token = service.sign({ sub: 'alice', expiresIn: 60 });
    service.verify(token);
    const forged = `${token.slice(0, token.lastIndexOf('.') + 1)}${'A'.repeat(43)}`;
    expect(() => service.verify(forged)).toThrow(new UnauthorizedException('token signature is invalid'));
    expect(() => service.verify(forged)).toThrow(UnauthorizedException);
    expect(checks).toHaveBeenCalledTimes(3);
  });
});
