import { QueryFailedError, QueryRunnerAlreadyReleasedError } from 'typeorm';
import { isDatabaseUnavailable } from './database-unavailable.js';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('isDatabaseUnavailable', () => {
  it.each([
    ['a refused connection', withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED')],
    ['a server shut down by its operator, wrapped by TypeORM', new QueryFailedError('SELECT 1', [], withCode('terminating connection due to administrator command', '57P01'))],
    ['a server still starting', withCode('the database system is starting up', '57P03')],
    ['a connection that broke mid-query', new Error('Connection terminated unexpectedly')],
    ['a query in a transaction whose connection broke (the chaos run saw it during a crash)', new QueryRunnerAlreadyReleasedError()],
    ['a cause further down', new Error('could not store', { cause: withCode('read ECONNRESET', 'ECONNRESET') })],
  ])('holds for %s', (_, err) => expect(isDatabaseUnavailable(err)).toBe(true));

  it.each([
    ['a syntax error', new QueryFailedError('SELEC 1', [], withCode('syntax error at or near "SELEC"', '42601'))],
    ['a unique violation', withCode('duplicate key value violates unique constraint', '23505')],
    ['a plain error', new Error('boom')],
    ['something not an error', 'ECONNREFUSED'],
  ])('does not hold for %s', (_, err) => expect(isDatabaseUnavailable(err)).toBe(false));
});
