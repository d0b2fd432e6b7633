/**
 * Serves an exported static site (export-web) from memory: the folder's files are read once at
 * start-up and looked up by exact URL, so no client-supplied path reaches the file system. The
 * page runs the model itself, so this server never receives an image; it accepts GET and HEAD only.
 * COOP/COEP make the page cross-origin isolated, which lets onnxruntime-web use WASM threads.
 */
import { createServer, type Server } from 'node:http';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
};

/** Headers of every answer: cross-origin isolation (WASM threads), no framing, no sniffing. */
export const CLIENT_SIDE_HEADERS: Record<string, string> = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const nested = await Promise.all(entries.map((e) => (e.isDirectory() ? listFiles(join(dir, e.name)) : Promise.resolve([join(dir, e.name)]))));
  return nested.flat();
}

/** Starts a static server over `root` on `host:port` (0 = any free port); resolves once listening. */
export async function startStaticSite(root: string, host: string, port: number): Promise<{ server: Server; port: number }> {
  const files = new Map<string, { body: Buffer; type: string }>();
  for (const f of await listFiles(root)) {
    const url = '/' + relative(root, f).split(sep).join('/');
    files.set(url, { body: await readFile(f), type: TYPES[extname(f)] ?? 'application/octet-stream' });
  }
  const index = files.get('/index.html');
  if (index) files.set('/', index);
  const server = createServer((req, res) => {
    for (const [k, v] of Object.entries(CLIENT_SIDE_HEADERS)) res.setHeader(k, v);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('This page runs the model in the browser: the server takes no uploads.\n');
      return;
    }
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    const file = files.get(path);
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`${path} is not part of this site\n`);
      return;
    }
    res.writeHead(200, { 'content-type': file.type, 'content-length': String(file.body.length) });
    res.end(req.method === 'HEAD' ? undefined : file.body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr ? addr.port : port };
}
