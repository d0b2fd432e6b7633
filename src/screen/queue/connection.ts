import { Redis } from 'ioredis';
import { QueueError } from '../../errors.js';

/** Key prefix of every deep-covid queue in Redis. */
export const QUEUE_PREFIX = 'deep-covid';

/** A parsed Redis address. */
export interface RedisAddress {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls: boolean;
  /** The URL without its password, for messages and logs. */
  display: string;
}

/** Parses redis://[user:password@]host[:port][/db] (rediss:// for TLS). */
export function parseRedisUrl(url: string): RedisAddress {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new QueueError(`"${url}" is not a Redis URL: write it as redis://HOST:PORT (e.g. redis://127.0.0.1:6379)`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new QueueError(`"${url}" is not a Redis URL (scheme ${u.protocol}): write it as redis://HOST:PORT`);
  }
  const db = u.pathname && u.pathname !== '/' ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new QueueError(`"${url}": the database number after the / must be a whole number`);
  const port = u.port ? Number(u.port) : 6379;
  const shown = new URL(u.href);
  if (shown.password) shown.password = '***';
  return {
    host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port,
    db,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    tls: u.protocol === 'rediss:',
    display: shown.href.replace(/\/$/, ''),
  };
}

/**
 * Connection options for BullMQ and ioredis clients: they keep reconnecting after an outage,
 * every 0.25–3 s (BullMQ's own default backs off to 20 s, which would stall a resumed run).
 */
export function connectionOptions(addr: RedisAddress): Record<string, unknown> & { retryStrategy: (times: number) => number | null } {
  return {
    host: addr.host, port: addr.port, db: addr.db, username: addr.username, password: addr.password,
    ...(addr.tls ? { tls: {} } : {}),
    retryStrategy: (times: number) => Math.min(250 * times, 3000),
  };
}

/**
 * Checks that Redis answers, once, within `timeoutMs`: at start a missing Redis is a clear
 * error instead of a process waiting forever. Later outages are ridden out by reconnecting.
 */
export async function checkRedis(addr: RedisAddress, timeoutMs = 5000): Promise<void> {
  const client = new Redis({
    ...connectionOptions(addr),
    lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // the socket's own error (ECONNREFUSED, ENOTFOUND, …) says more than the rejection ("Connection is closed")
  let socketError: Error | null = null;
  client.on('error', (err: Error) => { socketError ??= err; });
  try {
    await client.connect();
    await client.ping();
  } catch (err) {
    const e = (socketError ?? err) as NodeJS.ErrnoException;
    const why = e.code ?? e.message;
    throw new QueueError(`cannot reach Redis at ${addr.display} (${why}): start redis-server there, or give the address of a running one`, { cause: err });
  } finally {
    client.disconnect();
  }
}

/** The queue of one kind of work for one model: workers of another model never see its jobs. */
export function queueName(kind: 'screen' | 'features', modelId: string): string {
  return `${kind}-${modelId.slice(0, 16)}`;
}
