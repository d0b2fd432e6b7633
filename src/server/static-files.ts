/**
 * The bundled web page, read once at start-up into memory. Only the fixed list of files below is
 * served, looked up by exact URL: no client-supplied path ever reaches the file system.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';

/** URL → file name in the web folder, and its content type. */
const FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

/** A served file. */
interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

/** Reads the web folder; files that are absent are simply not served. */
export async function loadWebAssets(root: string): Promise<Map<string, Asset>> {
  const assets = new Map<string, Asset>();
  for (const [url, { file, type }] of Object.entries(FILES)) {
    const body = await readFile(join(root, file)).catch(() => null);
    if (body) assets.set(url, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` });
  }
  return assets;
}

/** Registers GET routes for the web page; `/` explains how to build it when it is missing. */
export function registerWebRoutes(app: FastifyInstance, assets: Map<string, Asset>, root: string | null): void {
  for (const url of Object.keys(FILES)) {
    app.get(url, async (request, reply) => {
      const a = assets.get(url);
      if (!a) {
        if (url !== '/') return reply.code(404).send({ error: { code: 'not-found', message: `${url} is not part of this server` } });
        return reply.code(503).type('text/plain; charset=utf-8')
          .send(`The web page is not built${root ? ` (nothing in ${root})` : ''}: run "npm run build" (or "node scripts/build-web.mjs"), then restart. The API works: POST /api/predict, GET /api/model, GET /api/openapi.json.\n`);
      }
      reply.header('etag', a.etag).header('cache-control', 'no-cache');
      if (request.headers['if-none-match'] === a.etag) return reply.code(304).send();
      return reply.type(a.type).send(a.body);
    });
  }
}
