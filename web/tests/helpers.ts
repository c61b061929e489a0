// A fake of the API for component tests: routes match method and path (and
// query when the route gives one), replies are Responses built from JSON.
// Every call is recorded with its headers and parsed body.
import { flushPromises, mount } from '@vue/test-utils';
import { vi } from 'vitest';
import type { Component, DefineComponent } from 'vue';
import { createMemoryHistory } from 'vue-router';
import { apiConfig } from '../src/api';
import { createAppRouter } from '../src/router';
import { setSignedIn, setSignedOut } from '../src/session';

export interface Call {
  method: string;
  path: string;
  query: URLSearchParams;
  search: string;
  headers: Headers;
  body: unknown;
  /** What was sent as the body, unparsed (a Blob for image uploads). */
  rawBody: BodyInit | null | undefined;
}

export type Reply = FakeResponse | ((call: Call) => FakeResponse | Promise<FakeResponse>);

export interface Route {
  method: string;
  /** "/pointers/alice" matches the path alone; "/payments?userId=alice" also needs those query values. */
  path: string | RegExp;
  /** One reply for every call, or a sequence (the last one repeats). */
  reply: Reply | Reply[];
}

/**
 * A stand-in for fetch's Response with just what the client reads (ok,
 * status, headers, text). Its body is a plain string, so a whole request runs
 * on microtasks and one flushPromises() settles it on every Node version
 * (Node 18's Response streams need an unpredictable number of macrotasks).
 */
export class FakeResponse {
  readonly ok: boolean;
  readonly headers: Headers;
  constructor(
    readonly status: number,
    private readonly body: string,
    headers: Record<string, string>,
  ) {
    this.ok = status >= 200 && status < 300;
    this.headers = new Headers(headers);
  }
  text(): Promise<string> {
    return Promise.resolve(this.body);
  }
  blob(): Promise<Blob> {
    return Promise.resolve(new Blob([this.body], { type: this.headers.get('content-type') ?? '' }));
  }
}

export function hal(body: unknown, status = 200, headers: Record<string, string> = {}): FakeResponse {
  return new FakeResponse(status, JSON.stringify(body), { 'Content-Type': 'application/hal+json', ...headers });
}

export function problem(
  status: number,
  slug: string,
  title: string,
  detail?: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): FakeResponse {
  return new FakeResponse(status, JSON.stringify({ type: `/problems/${slug}`, title, status, detail, ...extra }), {
    'Content-Type': 'application/problem+json',
    ...headers,
  });
}

/** A non-JSON answer, e.g. a proxy's error page. */
export function raw(status: number, body: string, contentType = 'text/html'): FakeResponse {
  return new FakeResponse(status, body, { 'Content-Type': contentType });
}

export function collection(key: string, items: unknown[], page = { size: 20, totalElements: items.length, totalPages: 1, number: 0 }) {
  return { _embedded: { [key]: items }, _links: { self: { href: `/${key}` } }, page };
}

function matches(route: Route, call: Call): boolean {
  if (route.method !== call.method) return false;
  if (route.path instanceof RegExp) return route.path.test(call.path + call.search);
  const [path, q] = route.path.split('?');
  if (path !== call.path) return false;
  if (!q) return true;
  for (const [k, v] of new URLSearchParams(q)) if (call.query.get(k) !== v) return false;
  return true;
}

export function mockApi(routes: Route[]) {
  const calls: Call[] = [];
  const served = new Map<Route, number>();
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const url = new URL(String(input), 'http://store.test');
    const call: Call = {
      method: (init.method ?? 'GET').toUpperCase(),
      path: url.pathname,
      query: url.searchParams,
      search: url.search,
      headers: new Headers(init.headers),
      body: typeof init.body === 'string' ? JSON.parse(init.body) : undefined,
      rawBody: init.body,
    };
    calls.push(call);
    const route = routes.find((r) => matches(r, call));
    if (!route) throw new Error(`unexpected request ${call.method} ${url.pathname}${url.search}`);
    const n = served.get(route) ?? 0;
    served.set(route, n + 1);
    const reply = Array.isArray(route.reply) ? route.reply[Math.min(n, route.reply.length - 1)] : route.reply;
    return typeof reply === 'function' ? reply(call) : reply;
  });
  vi.stubGlobal('fetch', fetchMock);
  return {
    calls,
    fetch: fetchMock,
    to(method: string, path: string): Call[] {
      return calls.filter((c) => c.method === method && c.path === path);
    },
  };
}

/** Mounts a screen inside a real router on an in-memory history. */
export async function mountAt(component: Component, path: string, options: { props?: Record<string, unknown> } = {}) {
  const router = createAppRouter(createMemoryHistory());
  await router.push(path);
  await router.isReady();
  const wrapper = mount(component as DefineComponent<Record<string, unknown>>, {
    attachTo: document.body,
    props: options.props,
    global: { plugins: [router] },
  });
  await flushPromises();
  return { wrapper, router };
}

export const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{1,64}$/;

function base64url(text: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

/** A JWT-shaped token with these claims (unsigned: the app never checks signatures, the server does). */
export function fakeJwt(claims: Record<string, unknown>): string {
  return `${base64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', kid: 'test' }))}.${base64url(JSON.stringify(claims))}.c2ln`;
}

export function accessTokenFor(userId: string, roles: string[] = ['reader']): string {
  return fakeJwt({
    iss: 'http://issuer.test',
    aud: 'webtoon-api',
    sub: `sub-${userId}`,
    preferred_username: userId,
    realm_access: { roles },
    exp: Math.floor(Date.now() / 1000) + 300,
  });
}

/**
 * Signed in as <userId> (account there) for screen tests, without OIDC:
 * the session says so and the API client sends a token for them.
 */
export function signInAs(userId: string, roles: string[] = ['reader']): string {
  const token = accessTokenFor(userId, roles);
  setSignedIn(userId, roles, true);
  apiConfig.auth = { accessToken: () => token, renew: async () => false, signedOut: () => setSignedOut(true) };
  return token;
}
