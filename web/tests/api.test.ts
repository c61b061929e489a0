import { describe, expect, it, vi } from 'vitest';
import {
  ApiError,
  NETWORK_ERROR_MESSAGE,
  SIGNED_OUT_MESSAGE,
  SIGN_IN_FIRST_MESSAGE,
  apiConfig,
  buy,
  charge,
  getPointer,
  join,
  listWebtoons,
  newIdempotencyKey,
  pollUntil,
  problemMessage,
  updateWebtoon,
  uploadWebtoon,
  waitForPurchase,
  type Purchase,
} from '../src/api';
import { IDEMPOTENCY_KEY, accessTokenFor, collection, hal, mockApi, problem, raw } from './helpers';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('problem+json handling', () => {
  it('turns title and detail into one readable message and keeps the extension members', async () => {
    mockApi([
      {
        method: 'POST',
        path: '/payments',
        reply: problem(402, 'payment-declined', 'Payment declined', 'The card was declined by the provider', {
          paymentId: 'p-1',
        }),
      },
    ]);
    const err = await charge('alice', 10).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    const e = err as ApiError;
    expect(e.status).toBe(402);
    expect(e.slug).toBe('payment-declined');
    expect(e.message).toBe('Payment declined. The card was declined by the provider.');
    expect(e.problem?.paymentId).toBe('p-1');
  });

  it('does not repeat a title that the detail already starts with', () => {
    expect(problemMessage({ title: 'Unknown user', detail: 'Unknown user: bob' }, 404)).toBe('Unknown user: bob.');
  });

  it('falls back to plain words when there is no problem body', async () => {
    mockApi([
      {
        method: 'GET',
        path: '/pointers/alice',
        reply: raw(502, '<html>Bad gateway</html>'),
      },
    ]);
    const e = (await getPointer('alice').catch((x: unknown) => x)) as ApiError;
    expect(e.status).toBe(502);
    expect(e.problem).toBeNull();
    expect(e.message).toBe('The store is having trouble right now (HTTP 502). Please try again in a moment.');
  });

  it('reports an unreachable server as a network problem, not a crash', async () => {
    vi.stubGlobal('fetch', vi.fn().mockRejectedValue(new TypeError('Failed to fetch')));
    const e = (await getPointer('alice').catch((x: unknown) => x)) as ApiError;
    expect(e).toBeInstanceOf(ApiError);
    expect(e.status).toBe(0);
    expect(e.message).toBe(NETWORK_ERROR_MESSAGE);
  });

  it('reads HAL collections, with or without _embedded', async () => {
    mockApi([
      {
        method: 'GET',
        path: '/webtoons?page=0',
        reply: hal(collection('webtoons', [{ webtoonId: 'a-1', title: 'A', author: 'x', point: 0, episode: 1, status: 'published' }])),
      },
      { method: 'GET', path: '/webtoons?page=1', reply: hal({ _links: {}, page: { size: 20, totalElements: 1, totalPages: 1, number: 1 } }) },
    ]);
    expect((await listWebtoons(0)).items.map((w) => w.webtoonId)).toEqual(['a-1']);
    expect((await listWebtoons(1)).items).toEqual([]);
  });
});

describe('idempotency keys', () => {
  it('sends a fresh key on every POST and PUT command and none on reads or PATCH', async () => {
    const api = mockApi([
      { method: 'POST', path: '/pointers', reply: hal({ userId: 'alice', point: 0, status: 'joined' }, 201) },
      { method: 'GET', path: '/pointers/alice', reply: hal({ userId: 'alice', point: 0, status: 'joined' }) },
      { method: 'PATCH', path: '/webtoons/a-1', reply: hal({ webtoonId: 'a-1' }) },
    ]);
    await join('alice');
    await join('alice');
    await getPointer('alice');
    await updateWebtoon('a-1', { title: 'New' });
    const [first, second] = api.to('POST', '/pointers').map((c) => c.headers.get('Idempotency-Key'));
    expect(first).toMatch(IDEMPOTENCY_KEY);
    expect(second).toMatch(IDEMPOTENCY_KEY);
    expect(first).not.toBe(second);
    expect(api.to('GET', '/pointers/alice')[0].headers.has('Idempotency-Key')).toBe(false);
    expect(api.to('POST', '/pointers')[0].headers.get('Content-Type')).toBe('application/json');
    expect(api.to('POST', '/pointers')[0].body).toEqual({ userId: 'alice' });
  });

  it('sends one request for a double click that reuses the key of the same intent', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const api = mockApi([
      {
        method: 'POST',
        path: '/payments',
        reply: async () => {
          await gate;
          return hal({ paymentId: 'p-1', userId: 'alice', point: 10, price: 1000, status: 'approved' }, 201);
        },
      },
    ]);
    const key = newIdempotencyKey();
    const a = charge('alice', 10, undefined, key);
    const b = charge('alice', 10, undefined, key);
    release();
    const [pa, pb] = await Promise.all([a, b]);
    expect(api.to('POST', '/payments')).toHaveLength(1);
    expect(api.calls[0].headers.get('Idempotency-Key')).toBe(key);
    expect(api.calls[0].body).toEqual({ userId: 'alice', point: 10, price: 1000 });
    expect(pa).toEqual(pb);
  });

  it('makes valid UUID keys without crypto.randomUUID (plain http origin) and without crypto at all', () => {
    vi.stubGlobal('crypto', { getRandomValues: (a: Uint8Array) => a.fill(7) });
    const k = newIdempotencyKey();
    expect(k).toMatch(UUID);
    expect(k.startsWith('07070707-0707-4707-8707-')).toBe(true);
    vi.stubGlobal('crypto', undefined);
    const a = newIdempotencyKey();
    const b = newIdempotencyKey();
    expect(a).toMatch(UUID);
    expect(a).not.toBe(b);
  });
});

describe('503 with Retry-After (catching up with recent events)', () => {
  it('waits as told and retries with the same key', async () => {
    const api = mockApi([
      {
        method: 'POST',
        path: '/payments',
        reply: [
          problem(503, 'catching-up', 'Not caught up with recent events yet', 'retry in a moment', {}, { 'Retry-After': '1' }),
          hal({ paymentId: 'p-1', userId: 'alice', point: 5, price: 500, status: 'approved' }, 201),
        ],
      },
    ]);
    const payment = await charge('alice', 5, undefined, 'key-1');
    expect(payment.status).toBe('approved');
    expect(apiConfig.sleep).toHaveBeenCalledWith(1000);
    const keys = api.calls.map((c) => c.headers.get('Idempotency-Key'));
    expect(keys).toEqual(['key-1', 'key-1']);
  });

  it('gives up after two retries and says what the server said', async () => {
    const api = mockApi([
      {
        method: 'GET',
        path: '/pointers/ghost',
        reply: problem(503, 'catching-up', 'Not caught up with recent events yet', 'retry in a moment', {}, { 'Retry-After': '1' }),
      },
    ]);
    const e = (await getPointer('ghost').catch((x: unknown) => x)) as ApiError;
    expect(api.calls).toHaveLength(3);
    expect(e.status).toBe(503);
    expect(e.message).toBe('Not caught up with recent events yet. Retry in a moment.');
  });

  it('does not retry a 404: the id does not exist', async () => {
    const api = mockApi([{ method: 'GET', path: '/pointers/ghost', reply: problem(404, 'unknown-user', 'Unknown user', 'No account named ghost', {}, { 'Retry-After': '1' }) }]);
    await expect(getPointer('ghost')).rejects.toThrow('Unknown user. No account named ghost.');
    expect(api.calls).toHaveLength(1);
    expect(apiConfig.sleep).not.toHaveBeenCalled();
  });
});

describe('polling 202 Accepted resources', () => {
  const pending: Purchase = { purchaseId: 'b-1', userId: 'alice', webtoonId: 'niceguy-1', point: 100, status: 'pending' };

  it('follows a pending purchase until it is final', async () => {
    const api = mockApi([
      { method: 'POST', path: '/purchases', reply: hal(pending, 202) },
      {
        method: 'GET',
        path: '/purchases/b-1',
        reply: [hal(pending), hal({ ...pending, status: 'approved', myPoint: 500 })],
      },
    ]);
    const started = await buy('alice', 'niceguy-1');
    expect(api.calls[0].body).toEqual({ userId: 'alice', webtoonId: 'niceguy-1' });
    const seen: string[] = [];
    const { value, done } = await waitForPurchase(started, { onUpdate: (p) => seen.push(p.status) });
    expect(done).toBe(true);
    expect(value.status).toBe('approved');
    expect(value.myPoint).toBe(500);
    expect(seen).toEqual(['pending', 'approved']);
    expect(api.to('GET', '/purchases/b-1')).toHaveLength(2);
  });

  it('stops at the cap, with growing waits, and says it is not done', async () => {
    apiConfig.pollIntervalMs = 100;
    apiConfig.pollBackoff = 2;
    apiConfig.pollMaxIntervalMs = 300;
    let reads = 0;
    const { value, done } = await pollUntil(
      async () => ({ n: ++reads, status: 'pending' }),
      (v) => v.status !== 'pending',
      { attempts: 4 },
    );
    expect(done).toBe(false);
    expect(value.n).toBe(4);
    expect(vi.mocked(apiConfig.sleep).mock.calls.map((c) => c[0])).toEqual([100, 200, 300]);
  });

  it('does not read again when the first answer is already final', async () => {
    const load = vi.fn();
    const { done } = await pollUntil(load, () => true, {}, { status: 'approved' });
    expect(done).toBe(true);
    expect(load).not.toHaveBeenCalled();
  });
});

describe('signed-in requests', () => {
  function hooks(tokens: string[], renewWorks = true) {
    let i = 0;
    const auth = {
      accessToken: vi.fn(() => tokens[i] ?? null),
      renew: vi.fn(async () => {
        if (!renewWorks) return false;
        i++;
        return true;
      }),
      signedOut: vi.fn(),
    };
    apiConfig.auth = auth;
    return auth;
  }

  it('sends the access token as a bearer token on reads and commands', async () => {
    const token = accessTokenFor('alice');
    hooks([token]);
    const api = mockApi([
      { method: 'GET', path: '/pointers/alice', reply: hal({ userId: 'alice', point: 0, status: 'joined' }) },
      { method: 'POST', path: '/pointers', reply: hal({ userId: 'alice', point: 0, status: 'joined' }, 201) },
    ]);
    await getPointer('alice');
    await join('alice');
    expect(api.calls.map((c) => c.headers.get('Authorization'))).toEqual([`Bearer ${token}`, `Bearer ${token}`]);
  });

  it('sends no Authorization header when nobody is signed in', async () => {
    const api = mockApi([{ method: 'GET', path: '/webtoons', reply: hal(collection('webtoons', [])) }]);
    await listWebtoons();
    expect(api.calls[0].headers.has('Authorization')).toBe(false);
  });

  it('on a 401 renews the token once and repeats the command with the new token and the same key', async () => {
    const auth = hooks(['old-token', 'new-token']);
    const api = mockApi([
      {
        method: 'POST',
        path: '/payments',
        reply: [
          problem(401, 'unauthorized', 'Unauthorized', 'the token has expired'),
          hal({ paymentId: 'p-1', userId: 'alice', price: 1000, point: 10, status: 'approved' }, 201),
        ],
      },
    ]);
    const payment = await charge('alice', 10);
    expect(payment.status).toBe('approved');
    expect(auth.renew).toHaveBeenCalledTimes(1);
    expect(auth.signedOut).not.toHaveBeenCalled();
    const [first, second] = api.to('POST', '/payments');
    expect(first.headers.get('Authorization')).toBe('Bearer old-token');
    expect(second.headers.get('Authorization')).toBe('Bearer new-token');
    expect(second.headers.get('Idempotency-Key')).toBe(first.headers.get('Idempotency-Key'));
  });

  it('when renewing does not help, says the sign-in has ended and signs out', async () => {
    const auth = hooks(['old-token'], false);
    const api = mockApi([{ method: 'GET', path: '/pointers/alice', reply: problem(401, 'unauthorized', 'Unauthorized') }]);
    const e = (await getPointer('alice').catch((x: unknown) => x)) as ApiError;
    expect(e.status).toBe(401);
    expect(e.message).toBe(SIGNED_OUT_MESSAGE);
    expect(auth.renew).toHaveBeenCalledTimes(1);
    expect(auth.signedOut).toHaveBeenCalledTimes(1);
    expect(api.calls).toHaveLength(1);
  });

  it('renews at most once per request, even if the new token is refused too', async () => {
    const auth = hooks(['t1', 't2', 't3']);
    const api = mockApi([{ method: 'GET', path: '/pointers/alice', reply: problem(401, 'unauthorized', 'Unauthorized') }]);
    await expect(getPointer('alice')).rejects.toThrow(SIGNED_OUT_MESSAGE);
    expect(auth.renew).toHaveBeenCalledTimes(1);
    expect(api.calls.map((c) => c.headers.get('Authorization'))).toEqual(['Bearer t1', 'Bearer t2']);
    expect(auth.signedOut).toHaveBeenCalledTimes(1);
  });

  it('a 401 without a token asks to sign in first', async () => {
    mockApi([{ method: 'GET', path: '/pointers/alice', reply: problem(401, 'unauthorized', 'Unauthorized') }]);
    const e = (await getPointer('alice').catch((x: unknown) => x)) as ApiError;
    expect(e.status).toBe(401);
    expect(e.message).toBe(SIGN_IN_FIRST_MESSAGE);
  });

  it("a 403 says plainly that it is not allowed, with the server's reason, and does not sign out", async () => {
    const auth = hooks([accessTokenFor('alice')]);
    mockApi([
      { method: 'POST', path: '/webtoons', reply: problem(403, 'forbidden', 'Forbidden', 'catalog writes need the admin role') },
      { method: 'GET', path: '/pointers/bob', reply: raw(403, '') },
    ]);
    const e = (await uploadWebtoon({ webtoonId: 'x', title: 'X', author: 'a', point: 0, episode: 1, status: 'published' }).catch(
      (x: unknown) => x,
    )) as ApiError;
    expect(e.status).toBe(403);
    expect(e.message).toBe('You are not allowed to do that. Catalog writes need the admin role.');
    const f = (await getPointer('bob').catch((x: unknown) => x)) as ApiError;
    expect(f.message).toBe('You are not allowed to do that.');
    expect(auth.renew).not.toHaveBeenCalled();
    expect(auth.signedOut).not.toHaveBeenCalled();
  });
});
