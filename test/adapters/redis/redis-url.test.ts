import { RedisAnswerChannel } from '../../../adapters/answers';
import {
  BullMqRequestQueue,
  DEFAULT_REDIS_URL,
  RedisResultStore,
  resolveRedisUrl,
} from '../../../adapters/redis';
import { InputError } from '../../../core/errors';

// Every Redis adapter takes its URL through one check, so a bad one is refused the same way by each,
// at construction, before any connection is tried.
const adapters: ReadonlyArray<[string, (redisUrl: string) => unknown]> = [
  ['the BullMQ request queue', (redisUrl) => new BullMqRequestQueue({ name: 'requests', redisUrl })],
  ['the result store', (redisUrl) => new RedisResultStore({ namespace: 'requests', redisUrl })],
  ['the answer channel', (redisUrl) => new RedisAnswerChannel({ namespace: 'requests', redisUrl })],
];

describe('Redis URL of the Redis adapters', () => {
  it.each(adapters)('%s refuses a URL of another scheme, naming it and the allowed ones', (_name, make) => {
    expect(() => make('http://127.0.0.1:6379')).toThrow(
      new InputError('Redis URL "http://127.0.0.1:6379" must start with redis:// or rediss://'),
    );
  });

  it.each(adapters)('%s refuses a value that is not a URL, saying what to use', (_name, make) => {
    expect(() => make('127.0.0.1:6379')).toThrow(InputError);
    expect(() => make('localhost')).toThrow('Redis URL "localhost" is not a URL; use redis://host:port');
  });

  it('takes the option first, then REDIS_URL, then the local default', () => {
    const saved = process.env['REDIS_URL'];
    try {
      process.env['REDIS_URL'] = 'rediss://cache.internal:6380';
      expect(resolveRedisUrl('redis://10.0.0.5:6379')).toBe('redis://10.0.0.5:6379');
      expect(resolveRedisUrl(undefined)).toBe('rediss://cache.internal:6380');
      delete process.env['REDIS_URL'];
      expect(resolveRedisUrl(undefined)).toBe(DEFAULT_REDIS_URL);
    } finally {
      if (saved === undefined) delete process.env['REDIS_URL'];
      else process.env['REDIS_URL'] = saved;
    }
  });
});
