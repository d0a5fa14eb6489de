/**
 * Where every Redis adapter connects: one resolution order (option, then `REDIS_URL`, then the
 * local default) and one check, so the queue, the result store and the answer channel of a
 * deployment agree on the server and refuse a bad URL with the same message before connecting.
 */
import { InputError } from '../../core/errors';

/** Where Redis is when neither the options nor `REDIS_URL` say. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/**
 * The URL to connect to: `redisUrl` if given, else `process.env.REDIS_URL`, else DEFAULT_REDIS_URL.
 * Refuses anything but a redis:// or rediss:// URL, naming the value, before any connection is tried.
 */
export function resolveRedisUrl(redisUrl: string | undefined): string {
  const url = redisUrl ?? process.env['REDIS_URL'] ?? DEFAULT_REDIS_URL;
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch (error) {
    throw new InputError(`Redis URL ${JSON.stringify(url)} is not a URL; use redis://host:port`, {
      cause: error,
    });
  }
  if (protocol !== 'redis:' && protocol !== 'rediss:') {
    throw new InputError(`Redis URL ${JSON.stringify(url)} must start with redis:// or rediss://`);
  }
  return url;
}
