/** Security headers on every response (pages, API answers and errors alike). */
import type { FastifyInstance } from 'fastify';

/** No inline scripts or styles anywhere; images only from the server itself and data:/blob: URLs. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "img-src 'self' data: blob:",
  "script-src 'self'",
  "style-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': CONTENT_SECURITY_POLICY,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=()',
});

/** Adds the headers in onRequest, so they are present even when parsing or routing fails. */
export function addSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onRequest', async (_request, reply) => {
    reply.headers(SECURITY_HEADERS);
  });
}

/** Names the server answers to whatever it is told: this computer's own. */
export const LOCAL_HOST_NAMES: readonly string[] = Object.freeze(['localhost', '127.0.0.1', '[::1]']);

const WILDCARD_BIND = new Set(['0.0.0.0', '::', '[::]', '']);

/** Which Host headers the server accepts. */
export interface HostPolicy {
  /** The address the server listens on (its name is accepted too). */
  bindHost?: string;
  /**
   * Further names (or `name:port`) clients may use, e.g. the machine's DNS name or the name a
   * reverse proxy forwards. `*` accepts any Host (only behind a proxy that checks it).
   */
  allowedHosts?: readonly string[];
}

/** A Host value as `{ name, port }` with the name lower-case and IPv6 in brackets, or null if malformed. */
export function parseHost(value: string): { name: string; port: string } | null {
  const v = value.trim();
  // a bare IPv6 address (as given to --host) has colons but no brackets
  const bracketed = !v.startsWith('[') && (v.match(/:/g) ?? []).length > 1 ? `[${v}]` : v;
  try {
    const u = new URL(`http://${bracketed}/`);
    if (u.username || u.password || u.pathname !== '/' || `${u.host}` === '') return null;
    if (!/^[\w.\-[\]:]+$/.test(bracketed)) return null;
    return { name: u.hostname.toLowerCase(), port: u.port };
  } catch {
    return null;
  }
}

/** True when `name` is an IPv4 or bracketed IPv6 literal (which no DNS rebinding can point anywhere). */
function isIpLiteral(name: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(name) || /^\[[0-9a-f:.]+\]$/i.test(name);
}

/**
 * Builds the Host check that defeats DNS rebinding: a web page at attacker.example whose name
 * the attacker re-points to 127.0.0.1 reaches this server with `Host: attacker.example`, which
 * is refused. Accepted: localhost, 127.0.0.1, [::1], the bind address, the names given (an entry
 * with a port only with that port) and, when the server listens on every address, any IP literal.
 */
export function hostChecker(policy: HostPolicy): (host: string | undefined) => boolean {
  const extra = policy.allowedHosts ?? [];
  if (extra.includes('*')) return () => true;
  const names = new Set<string>();
  const withPort = new Set<string>();
  const bind = (policy.bindHost ?? '').trim();
  for (const entry of [...LOCAL_HOST_NAMES, ...(WILDCARD_BIND.has(bind) ? [] : [bind]), ...extra]) {
    const h = parseHost(entry);
    if (!h) throw new RangeError(`allowed host "${entry}" is not a host name or address (with an optional :port)`);
    if (h.port) withPort.add(`${h.name}:${h.port}`);
    else names.add(h.name);
  }
  const anyIp = WILDCARD_BIND.has(bind) && policy.bindHost !== undefined;
  return (host) => {
    // HTTP/1.0 clients may omit Host; browsers (the only rebinding vector) always send it
    if (host === undefined) return true;
    const h = parseHost(host);
    if (!h) return false;
    return names.has(h.name) || withPort.has(`${h.name}:${h.port}`) || (anyIp && isIpLiteral(h.name));
  };
}

/**
 * True when a state-changing request may come from where it says it comes from: no Origin (a
 * non-browser client, or a same-origin request from an old browser) or an Origin whose host is
 * the request's own Host; and no Sec-Fetch-Site saying another site sent it. This is what stops
 * any web page from making the local server run inference with a plain form POST.
 */
export function sameOrigin(headers: Record<string, string | string[] | undefined>): boolean {
  const site = headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') return false;
  const origin = headers.origin;
  if (origin === undefined) return true;
  if (typeof origin !== 'string' || typeof headers.host !== 'string') return false;
  let o: URL;
  try {
    o = new URL(origin);
  } catch {
    return false; // includes the opaque origin "null" of sandboxed frames and file: pages
  }
  if (o.protocol !== 'http:' && o.protocol !== 'https:') return false;
  const h = parseHost(headers.host);
  if (!h) return false;
  // compare as URL.host does: default ports dropped, so Origin https://x matches Host x behind a TLS proxy
  const host = h.port && h.port !== (o.protocol === 'https:' ? '443' : '80') ? `${h.name}:${h.port}` : h.name;
  return o.host.toLowerCase() === host;
}
