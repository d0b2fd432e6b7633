// A throw-away Redis server for tests: Debian's redis-server on a free loopback port, data in a
// temp folder, no persistence (--save ''), stopped (and the folder removed) by stop().
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where Debian's redis-server lives (installed by .ci/run when missing). */
export const REDIS_SERVER = '/usr/bin/redis-server';

/** Pass as node:test's `skip` option: false when redis-server is there, else the reason. */
export const skipNoRedis: string | false = existsSync(REDIS_SERVER) ? false : `${REDIS_SERVER} is absent (install Debian's redis-server; .ci/run does)`;

/** A free TCP port on 127.0.0.1 (bound and released at once). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => { s.destroy(); resolve(false); });
    s.connect(port, '127.0.0.1');
  });
}

/** A running test Redis. `restart()` stops it and starts an empty one on the same port. */
export interface TestRedis {
  port: number;
  url: string;
  stop(): Promise<void>;
  /** kill -9 and start again on the same port (everything stored is gone: no persistence). */
  restart(downMs?: number): Promise<void>;
  /** Kills the server without starting it again. */
  kill(): Promise<void>;
  start(): Promise<void>;
}

/** Starts redis-server on a free loopback port with a temp working folder and no persistence. */
export async function startRedis(): Promise<TestRedis> {
  const dir = await mkdtemp(join(tmpdir(), 'dc-redis-'));
  const port = await freePort();
  let child: ChildProcess | null = null;
  const start = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--loglevel', 'warning'];
    const proc = spawn(REDIS_SERVER, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
    child = proc;
    const t0 = Date.now();
    while (!(await acceptsConnections(port))) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited (${proc.exitCode}): ${stderr}`);
      if (Date.now() - t0 > 10_000) throw new Error(`redis-server did not listen on ${port} within 10 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const kill = async () => {
    const proc = child;
    child = null;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    kill,
    async restart(downMs = 0) {
      await kill();
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await start();
    },
    async stop() {
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
