import { Redis } from 'ioredis';

/** Commands processed and network bytes (in + out) of a Redis so far, from INFO stats: subtract two readings. */
export async function redisStats(url: string): Promise<{ commands: number; bytes: number }> {
  const c = new Redis(url);
  const info = await c.info('stats');
  c.disconnect();
  const num = (k: string) => Number(new RegExp(`^${k}:(\\d+)`, 'm').exec(info)?.[1] ?? NaN);
  return { commands: num('total_commands_processed'), bytes: num('total_net_input_bytes') + num('total_net_output_bytes') };
}
