// The HTTP client for the store's API (docs/API.md). It talks to same-origin
// relative URLs, so the built files work wherever the gateway serves them.
//
// What it guarantees to the screens:
// - every failure becomes an ApiError whose `message` is plain words built
//   from the problem+json body (title and detail), or a sensible sentence
//   when the body is missing (network down, proxy error page);
// - every POST/PUT command carries an Idempotency-Key; the caller keeps one
//   key per user intent, and a second identical call with the same key while
//   the first is in flight shares the first one's request, so a double click
//   never charges or buys twice;
// - a 503 with Retry-After (the service is catching up with recent events,
//   or briefly unavailable) is retried a couple of times with the same
//   Idempotency-Key, so a command still takes effect at most once;
// - `pollUntil` follows a 202 Accepted resource to its final state, with a cap;
// - when someone is signed in (apiConfig.auth, set by auth.ts), every request
//   carries `Authorization: Bearer <access token>`; a 401 renews the token
//   silently once and repeats the request (same Idempotency-Key), and when
//   that does not help the user is told to sign in again. A 403 says plainly
//   that the account may not do that. The server decides both: the app only
//   forwards the token it was given.

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  instance?: string;
  requestId?: string;
  [extension: string]: unknown;
}

export interface Link {
  href: string;
}

export type Links = Record<string, Link | undefined>;

export interface PageInfo {
  size: number;
  totalElements: number;
  totalPages: number;
  number: number;
}

export interface Pointer {
  userId: string;
  point: number;
  status: 'joined' | 'withdrawn';
  _links?: Links;
}

export type PaymentStatus = 'approved' | 'declined' | 'refunding' | 'refunded';

export interface Payment {
  paymentId: string;
  userId: string;
  price: number;
  point: number;
  status: PaymentStatus;
  reason?: string;
  refundError?: string;
  /** Epoch milliseconds. */
  createdAt?: number | string;
  _links?: Links;
}

export interface Webtoon {
  webtoonId: string;
  title: string;
  author: string;
  point: number;
  episode: number;
  status: 'published' | 'hidden';
  /** The series it belongs to (absent from servers that predate series). */
  seriesId?: string;
  /** RFC 3339: from then on free for everyone ("wait until free"). */
  freeFrom?: string;
  /** How many pages it has. */
  pages?: number;
  _links?: Links;
}

export type WebtoonFields = Omit<Webtoon, '_links' | 'pages'>;
/** A PATCH: only what changed. */
export type WebtoonChanges = Partial<Omit<WebtoonFields, 'webtoonId'>>;

export const GENRES = [
  'action',
  'comedy',
  'drama',
  'fantasy',
  'horror',
  'romance',
  'sci-fi',
  'slice-of-life',
  'sports',
  'thriller',
] as const;

export type SeriesStatus = 'ongoing' | 'completed' | 'hiatus';
export const SERIES_STATUSES: SeriesStatus[] = ['ongoing', 'completed', 'hiatus'];
export type SeriesSort = 'new' | 'popular' | 'title';

export interface Series {
  seriesId: string;
  title: string;
  author: string;
  synopsis?: string;
  genres: string[];
  status: SeriesStatus;
  /** Published episodes. */
  episodes: number;
  latestEpisodeAt?: string;
  /** Episodes free to read right now. */
  freeEpisodes: number;
  popularity?: number;
  createdAt?: string;
  _links?: Links;
}

export type SeriesFields = Pick<Series, 'seriesId' | 'title' | 'author' | 'synopsis' | 'genres' | 'status'>;

export interface SeriesQuery {
  q?: string;
  genre?: string;
  status?: string;
  sort?: SeriesSort;
  page?: number;
  size?: number;
}

export interface PageAdded {
  webtoonId: string;
  number: number;
  width: number;
  height: number;
  _links?: Links;
}

export interface OpenResult {
  userId: string;
  webtoonId: string;
  result: 'approved';
  free: boolean;
  purchaseId?: string;
  title?: string;
  episode?: number;
  seriesId?: string;
  /** Image URLs of the pages, in reading order. */
  pages?: string[];
  /** Where this reader stopped last time. */
  progress?: { page: number; updatedAt?: string };
  /** The published neighbours in the series. */
  previous?: string;
  next?: string;
}

export interface Progress {
  webtoonId: string;
  page: number;
  updatedAt?: string;
}

export interface ContinueReading {
  webtoonId: string;
  seriesId?: string;
  title: string;
  episode: number;
  page: number;
  pages: number;
  updatedAt?: string;
}

export interface LibraryEntry {
  webtoonId: string;
  seriesId?: string;
  purchaseId?: string;
  read: boolean;
}

export interface Library {
  userId: string;
  owned: LibraryEntry[];
  /** Newest first. */
  continueReading: ContinueReading[];
}

export type PurchaseStatus = 'pending' | 'approved' | 'rejected' | 'cancelling' | 'cancelled';

export interface Purchase {
  purchaseId: string;
  userId: string;
  webtoonId: string;
  point: number;
  myPoint?: number;
  status: PurchaseStatus;
  reason?: string;
  cancelError?: string;
  read?: boolean;
  /** Epoch milliseconds. */
  createdAt?: number | string;
  _links?: Links;
}

export interface TimelineEntry {
  entryId: string | number;
  kind: 'account' | 'payment' | 'purchase' | 'read' | string;
  refId?: string;
  webtoonId?: string;
  point?: number;
  price?: number;
  status: string;
  reason?: string;
  /** Epoch milliseconds. */
  occurredAt?: number | string;
  updatedAt?: number | string;
  _links?: Links;
}

export interface HistorySummary {
  userId: string;
  status: 'joined' | 'withdrawn' | string;
  myPoint: number;
  _embedded?: { timeline?: TimelineEntry[] };
  _links?: Links;
}

export interface Collection<T> {
  items: T[];
  page: PageInfo | null;
  hasNext: boolean;
  hasPrev: boolean;
}

/** What the client needs from sign-in (auth.ts); none means nobody is signed in. */
export interface AuthHooks {
  /** The access token to send, or null when signed out. */
  accessToken(): string | null;
  /** After a 401 to a request that carried a token: renew silently; true when a new token is there. */
  renew(): Promise<boolean>;
  /** The API refused the token and renewing did not help: the sign-in is over. */
  signedOut(): void;
}

/** Knobs the tests turn; the defaults suit a person at a browser. */
export const apiConfig = {
  /** Sign-in, when the app runs with it (auth.ts sets this at start). */
  auth: null as AuthHooks | null,
  /** Prefix for every path; empty means same origin as the page. */
  baseUrl: '',
  /** How to wait; tests replace it to run instantly. */
  sleep: (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms)),
  /** Retries of a 503 that carries Retry-After. */
  unavailableRetries: 2,
  /** Longest wait honoured from a Retry-After header. */
  maxRetryAfterMs: 3000,
  /** Polling of pending resources: first interval, growth, longest interval, attempts. */
  pollIntervalMs: 250,
  pollBackoff: 1.5,
  pollMaxIntervalMs: 2000,
  pollMaxAttempts: 30,
  /** The history screen re-reads the timeline this often while an entry is pending, this many times. */
  historyPollMs: 1000,
  historyPollMax: 60,
  /** The catalog searches this long after the last keystroke. */
  searchDelayMs: 300,
  /** The reader saves where it is once scrolling has paused this long. */
  progressDelayMs: 1000,
};

/** Statuses that are not final yet: the resource will change by itself. */
const PENDING_STATUSES = new Set(['pending', 'refunding', 'cancelling']);

export function isPendingStatus(status: string | undefined): boolean {
  return status !== undefined && PENDING_STATUSES.has(status);
}

// ---------------------------------------------------------------------------
// Errors

const STATUS_WORDS: Record<number, string> = {
  400: 'The request was not accepted',
  401: 'Please sign in to do that',
  402: 'The payment was declined',
  403: 'You are not allowed to do that',
  404: 'Not found',
  409: 'That conflicts with the current state',
  413: 'The request is too large',
  415: 'The request had the wrong format',
  422: 'The request could not be processed',
  429: 'Too many requests: please wait a moment and try again',
};

function statusWords(status: number): string {
  if (STATUS_WORDS[status]) return STATUS_WORDS[status];
  if (status >= 500) return `The store is having trouble right now (HTTP ${status}). Please try again in a moment`;
  return `The store answered with HTTP ${status}`;
}

function sentence(text: string): string {
  const t = text.trim();
  const s = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?]$/.test(s) ? s : `${s}.`;
}

/** Turns a problem+json body (or its absence) into one or two plain sentences. */
export function problemMessage(problem: Problem | null, status: number): string {
  const title = typeof problem?.title === 'string' && problem.title.trim() ? problem.title.trim() : '';
  const detail = typeof problem?.detail === 'string' && problem.detail.trim() ? problem.detail.trim() : '';
  if (title && detail) {
    // Some servers repeat the title at the start of the detail; say it once.
    if (detail.toLowerCase().startsWith(title.toLowerCase())) return sentence(detail);
    return `${sentence(title)} ${sentence(detail)}`;
  }
  if (detail) return sentence(detail);
  if (title) return sentence(title);
  return sentence(statusWords(status));
}

export class ApiError extends Error {
  /** HTTP status, or 0 when the server could not be reached. */
  readonly status: number;
  /** The parsed problem+json body, when there was one. */
  readonly problem: Problem | null;
  /** The last segment of the problem type, e.g. "payment-declined". */
  readonly slug: string;
  /** Seconds from a Retry-After header, when given. */
  readonly retryAfter: number | null;

  constructor(status: number, problem: Problem | null, message?: string, retryAfter: number | null = null) {
    super(message ?? problemMessage(problem, status));
    this.name = 'ApiError';
    this.status = status;
    this.problem = problem;
    this.retryAfter = retryAfter;
    const type = typeof problem?.type === 'string' ? problem.type : '';
    this.slug = type ? type.replace(/\/+$/, '').split('/').pop() ?? '' : '';
  }
}

export const NETWORK_ERROR_MESSAGE = 'Could not reach the store. Check your connection and try again.';
export const SIGNED_OUT_MESSAGE = 'You are signed out: your sign-in has ended. Please sign in again.';
export const SIGN_IN_FIRST_MESSAGE = 'Please sign in to do that.';

/** Plain words for a refused access (403): not allowed, then the server's reason when it gave one. */
function forbiddenMessage(problem: Problem | null): string {
  const detail = typeof problem?.detail === 'string' ? problem.detail.trim() : '';
  return detail ? `You are not allowed to do that. ${sentence(detail)}` : 'You are not allowed to do that.';
}

/** Plain words for anything a screen caught. */
export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error && error.message) return `Something went wrong: ${error.message}`;
  return 'Something went wrong. Please try again.';
}

// ---------------------------------------------------------------------------
// Idempotency keys

/** A fresh key for one user intent: a UUID, which fits [A-Za-z0-9._:-]{1,64}. */
export function newIdempotencyKey(): string {
  const c: Crypto | undefined = (globalThis as { crypto?: Crypto }).crypto;
  // randomUUID exists only in secure contexts (https or localhost).
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  const bytes = new Uint8Array(16);
  if (c && typeof c.getRandomValues === 'function') {
    c.getRandomValues(bytes);
  } else {
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  }
  bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
  bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// ---------------------------------------------------------------------------
// Requests

export interface RequestOptions {
  /** JSON, or a Blob (a File) sent as its bytes with its own type as Content-Type. */
  body?: unknown;
  /** Sent as Idempotency-Key; POST and PUT get a fresh one when none is given. */
  idempotencyKey?: string;
  /** Retry a 503 that carries Retry-After (default true). */
  retryUnavailable?: boolean;
  signal?: AbortSignal;
}

export interface ApiResponse<T> {
  status: number;
  data: T;
  headers: Headers;
}

const inflight = new Map<string, Promise<ApiResponse<unknown>>>();

function parseRetryAfter(value: string | null): number | null {
  if (value === null) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds;
  const date = Date.parse(value);
  if (!Number.isNaN(date)) return Math.max(0, (date - Date.now()) / 1000);
  return null;
}

async function readBody(res: Response): Promise<unknown> {
  const text = await res.text();
  if (!text) return null;
  const type = res.headers.get('content-type') ?? '';
  if (type.includes('json') || /^[[{]/.test(text.trim())) {
    try {
      return JSON.parse(text);
    } catch {
      return null;
    }
  }
  return null;
}

async function send<T>(method: string, path: string, opts: RequestOptions, key: string | undefined): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { Accept: 'application/hal+json, application/json, application/problem+json' };
  let body: string | Blob | undefined;
  if (opts.body instanceof Blob) {
    headers['Content-Type'] = opts.body.type || 'application/octet-stream';
    body = opts.body;
  } else if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  if (key) headers['Idempotency-Key'] = key;

  const retries = opts.retryUnavailable === false ? 0 : apiConfig.unavailableRetries;
  let renewed = false;
  for (let attempt = 0; ; attempt++) {
    const auth = apiConfig.auth;
    const token = auth?.accessToken() ?? null;
    if (token) headers.Authorization = `Bearer ${token}`;
    else delete headers.Authorization;
    let res: Response;
    try {
      res = await fetch(apiConfig.baseUrl + path, { method, headers, body, signal: opts.signal });
    } catch (e) {
      if (e instanceof DOMException && e.name === 'AbortError') throw e;
      throw new ApiError(0, null, NETWORK_ERROR_MESSAGE);
    }
    const data = await readBody(res);
    if (res.ok) return { status: res.status, data: data as T, headers: res.headers };

    const problem = data && typeof data === 'object' && !Array.isArray(data) ? (data as Problem) : null;
    const retryAfter = parseRetryAfter(res.headers.get('retry-after'));
    if (res.status === 503 && retryAfter !== null && attempt < retries) {
      // The same key again: if the first attempt did take effect after all,
      // the server answers with its stored result instead of repeating it.
      await apiConfig.sleep(Math.min(Math.max(retryAfter * 1000, 100), apiConfig.maxRetryAfterMs));
      continue;
    }
    if (res.status === 401) {
      if (!token || !auth) throw new ApiError(401, problem, SIGN_IN_FIRST_MESSAGE, retryAfter);
      // The token expired or was revoked: one silent renewal, then the same
      // request (and key) again. A 401 means nothing was done.
      if (!renewed) {
        renewed = true;
        let ok = false;
        try {
          ok = await auth.renew();
        } catch {
          ok = false;
        }
        if (ok && auth.accessToken()) continue;
      }
      auth.signedOut();
      throw new ApiError(401, problem, SIGNED_OUT_MESSAGE, retryAfter);
    }
    const error = new ApiError(res.status, problem, undefined, retryAfter);
    // A 403 of the domain (not-owned) keeps its own words; a refusal of
    // access says plainly that this account may not do that.
    if (res.status === 403 && (error.slug === '' || error.slug === 'forbidden')) {
      throw new ApiError(403, problem, forbiddenMessage(problem), retryAfter);
    }
    throw error;
  }
}

/** One HTTP exchange with the API; throws ApiError on any failure. */
export function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
  const isCommand = method === 'POST' || method === 'PUT';
  const key = opts.idempotencyKey ?? (isCommand ? newIdempotencyKey() : undefined);
  if (!key) return send<T>(method, path, opts, undefined);

  const flightId = `${method} ${path} ${key}`;
  const running = inflight.get(flightId);
  if (running) return running as Promise<ApiResponse<T>>;
  const p = send<T>(method, path, opts, key).finally(() => inflight.delete(flightId));
  inflight.set(flightId, p as Promise<ApiResponse<unknown>>);
  return p;
}

function seg(id: string): string {
  return encodeURIComponent(id);
}

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

interface HalCollection {
  _embedded?: Record<string, unknown[] | undefined>;
  _links?: Links;
  page?: PageInfo;
}

function toCollection<T>(body: unknown, key: string): Collection<T> {
  const hal = (body ?? {}) as HalCollection;
  return {
    items: (hal._embedded?.[key] ?? []) as T[],
    page: hal.page ?? null,
    hasNext: Boolean(hal._links?.next),
    hasPrev: Boolean(hal._links?.prev),
  };
}

async function get<T>(path: string, signal?: AbortSignal): Promise<T> {
  return (await request<T>('GET', path, { signal })).data;
}

// ---------------------------------------------------------------------------
// Polling

export interface PollOptions<T> {
  attempts?: number;
  intervalMs?: number;
  signal?: AbortSignal;
  /** Called with every value read, so a screen can show progress. */
  onUpdate?: (value: T) => void;
}

export interface PollResult<T> {
  value: T;
  /** False when the cap was reached (or the poll was aborted) first. */
  done: boolean;
}

/**
 * Reads `load` until `isDone` holds, waiting a growing interval between reads,
 * at most `attempts` reads. `first`, when given, is checked before any read.
 */
export async function pollUntil<T>(
  load: () => Promise<T>,
  isDone: (value: T) => boolean,
  opts: PollOptions<T> = {},
  first?: T,
): Promise<PollResult<T>> {
  const attempts = opts.attempts ?? apiConfig.pollMaxAttempts;
  let interval = opts.intervalMs ?? apiConfig.pollIntervalMs;
  let value = first as T;
  if (first !== undefined && isDone(first)) return { value: first, done: true };
  for (let i = 0; i < attempts; i++) {
    if (opts.signal?.aborted) return { value, done: false };
    if (i > 0 || first !== undefined) {
      await apiConfig.sleep(interval);
      interval = Math.min(interval * apiConfig.pollBackoff, apiConfig.pollMaxIntervalMs);
      if (opts.signal?.aborted) return { value, done: false };
    }
    value = await load();
    opts.onUpdate?.(value);
    if (isDone(value)) return { value, done: true };
  }
  return { value, done: false };
}

// ---------------------------------------------------------------------------
// Pointer (accounts and balances)

export function join(userId: string, idempotencyKey?: string): Promise<Pointer> {
  return request<Pointer>('POST', '/pointers', { body: { userId }, idempotencyKey }).then((r) => r.data);
}

export function getPointer(userId: string, signal?: AbortSignal): Promise<Pointer> {
  return get<Pointer>(`/pointers/${seg(userId)}`, signal);
}

export function withdraw(userId: string, idempotencyKey?: string): Promise<Pointer> {
  return request<Pointer>('PUT', `/pointers/${seg(userId)}/withdraw`, { idempotencyKey }).then((r) => r.data);
}

// ---------------------------------------------------------------------------
// Payment

/** Money for `point` points, in the smallest currency unit (WEBTOON_PRICE_PER_POINT). */
export const PRICE_PER_POINT = 100;

export function charge(userId: string, point: number, card?: string, idempotencyKey?: string): Promise<Payment> {
  const body: Record<string, unknown> = { userId, point, price: point * PRICE_PER_POINT };
  if (card) body.card = card;
  return request<Payment>('POST', '/payments', { body, idempotencyKey }).then((r) => r.data);
}

export async function listPayments(userId: string, page = 0, size = 20): Promise<Collection<Payment>> {
  return toCollection<Payment>(await get(`/payments${query({ userId, page, size })}`), 'payments');
}

export function getPayment(paymentId: string): Promise<Payment> {
  return get<Payment>(`/payments/${seg(paymentId)}`);
}

export function refund(paymentId: string, idempotencyKey?: string): Promise<Payment> {
  return request<Payment>('PUT', `/payments/${seg(paymentId)}/refund`, { idempotencyKey }).then((r) => r.data);
}

/** Follows a payment until it is no longer refunding. */
export function waitForPayment(payment: Payment, opts: PollOptions<Payment> = {}): Promise<PollResult<Payment>> {
  return pollUntil(() => getPayment(payment.paymentId), (p) => !isPendingStatus(p.status), opts, payment);
}

// ---------------------------------------------------------------------------
// Webtoon (catalog)

export async function listWebtoons(page = 0, size = 20): Promise<Collection<Webtoon>> {
  return toCollection<Webtoon>(await get(`/webtoons${query({ page, size })}`), 'webtoons');
}

export function getWebtoon(webtoonId: string): Promise<Webtoon> {
  return get<Webtoon>(`/webtoons/${seg(webtoonId)}`);
}

export function uploadWebtoon(fields: WebtoonFields, idempotencyKey?: string): Promise<Webtoon> {
  return request<Webtoon>('POST', '/webtoons', { body: fields, idempotencyKey }).then((r) => r.data);
}

export function updateWebtoon(webtoonId: string, changes: WebtoonChanges): Promise<Webtoon> {
  return request<Webtoon>('PATCH', `/webtoons/${seg(webtoonId)}`, { body: changes }).then((r) => r.data);
}

/** A PUT: every field; a missing freeFrom means none (the only way to take one away, as no field can be null). */
export function replaceWebtoon(webtoonId: string, fields: Omit<WebtoonFields, 'webtoonId'>): Promise<Webtoon> {
  return request<Webtoon>('PUT', `/webtoons/${seg(webtoonId)}`, { body: fields }).then((r) => r.data);
}

export function openWebtoon(webtoonId: string, userId: string, idempotencyKey?: string): Promise<OpenResult> {
  return request<OpenResult>('POST', `/webtoons/${seg(webtoonId)}/open`, { body: { userId }, idempotencyKey }).then(
    (r) => r.data,
  );
}

export async function getLibrary(userId: string): Promise<Library> {
  const lib = await get<Partial<Library>>(`/libraries/${seg(userId)}`);
  return {
    userId: lib?.userId ?? userId,
    owned: Array.isArray(lib?.owned) ? lib.owned : [],
    continueReading: Array.isArray(lib?.continueReading) ? lib.continueReading : [],
  };
}

/** Remembers the page this reader is on (PUT: idempotent, a retry is harmless). */
export function saveProgress(webtoonId: string, userId: string, page: number): Promise<Progress> {
  return request<Progress>('PUT', `/webtoons/${seg(webtoonId)}/progress`, { body: { userId, page } }).then((r) => r.data);
}

/** Appends one page (an image file) to an episode; pages are numbered 1..n. */
export function addPage(webtoonId: string, image: Blob, idempotencyKey?: string): Promise<PageAdded> {
  return request<PageAdded>('POST', `/webtoons/${seg(webtoonId)}/pages`, { body: image, idempotencyKey }).then(
    (r) => r.data,
  );
}

/** New page order: `order[i]` is the current number of the page that becomes page i + 1. */
export function reorderPages(webtoonId: string, order: number[]): Promise<unknown> {
  return request('PUT', `/webtoons/${seg(webtoonId)}/pages`, { body: { order } }).then((r) => r.data);
}

export function deletePage(webtoonId: string, page: number): Promise<void> {
  return request('DELETE', `/webtoons/${seg(webtoonId)}/pages/${page}`).then(() => undefined);
}

/** The path of a page's image in one size; paid episodes need the signed-in owner's token. */
export function pageImagePath(webtoonId: string, page: number, size: 'reading' | 'thumb'): string {
  return `/webtoons/${seg(webtoonId)}/pages/${page}?size=${size}`;
}

/**
 * An image read with this user's token (an <img> cannot send one), as an
 * object URL the caller revokes when done.
 */
export async function fetchImageUrl(path: string, signal?: AbortSignal): Promise<string> {
  const headers: Record<string, string> = { Accept: 'image/*' };
  const token = apiConfig.auth?.accessToken() ?? null;
  if (token) headers.Authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(apiConfig.baseUrl + path, { headers, signal });
  } catch (e) {
    if (e instanceof DOMException && e.name === 'AbortError') throw e;
    throw new ApiError(0, null, NETWORK_ERROR_MESSAGE);
  }
  if (!res.ok) throw new ApiError(res.status, null);
  return URL.createObjectURL(await res.blob());
}

// ---------------------------------------------------------------------------
// Series

export async function listSeries(params: SeriesQuery = {}, signal?: AbortSignal): Promise<Collection<Series>> {
  const { q, genre, status, sort, page = 0, size = 24 } = params;
  return toCollection<Series>(await get(`/series${query({ q: q?.trim(), genre, status, sort, page, size })}`, signal), 'series');
}

export function getSeries(seriesId: string): Promise<Series> {
  return get<Series>(`/series/${seg(seriesId)}`);
}

/** Every episode of a series in episode order (the server pages; this reads up to `maxPages` of them). */
export async function listAllEpisodes(seriesId: string, maxPages = 10): Promise<Webtoon[]> {
  const all: Webtoon[] = [];
  for (let page = 0; page < maxPages; page++) {
    const coll = toCollection<Webtoon>(await get(`/series/${seg(seriesId)}/episodes${query({ page, size: 100 })}`), 'episodes');
    all.push(...coll.items);
    if (!coll.hasNext || coll.items.length === 0) break;
  }
  return all;
}

export function createSeries(fields: SeriesFields, idempotencyKey?: string): Promise<Series> {
  return request<Series>('POST', '/series', { body: fields, idempotencyKey }).then((r) => r.data);
}

export function uploadCover(seriesId: string, image: Blob, idempotencyKey?: string): Promise<Series> {
  return request<Series>('PUT', `/series/${seg(seriesId)}/cover`, { body: image, idempotencyKey }).then((r) => r.data);
}

/** The series' cover at thumbnail size, when it has one. */
export function thumbnailOf(series: Series): string | null {
  return series._links?.thumbnail?.href ?? null;
}

export function coverOf(series: Series): string | null {
  return series._links?.cover?.href ?? series._links?.thumbnail?.href ?? null;
}

// ---------------------------------------------------------------------------
// Purchase

export function buy(userId: string, webtoonId: string, idempotencyKey?: string): Promise<Purchase> {
  return request<Purchase>('POST', '/purchases', { body: { userId, webtoonId }, idempotencyKey }).then((r) => r.data);
}

export function getPurchase(purchaseId: string): Promise<Purchase> {
  return get<Purchase>(`/purchases/${seg(purchaseId)}`);
}

export async function listPurchases(userId: string, page = 0, size = 20): Promise<Collection<Purchase>> {
  return toCollection<Purchase>(await get(`/purchases${query({ userId, page, size })}`), 'purchases');
}

export function cancelPurchase(purchaseId: string, idempotencyKey?: string): Promise<Purchase> {
  return request<Purchase>('PUT', `/purchases/${seg(purchaseId)}/cancel`, { idempotencyKey }).then((r) => r.data);
}

/** Follows a purchase until it is approved, rejected or cancelled. */
export function waitForPurchase(purchase: Purchase, opts: PollOptions<Purchase> = {}): Promise<PollResult<Purchase>> {
  return pollUntil(() => getPurchase(purchase.purchaseId), (p) => !isPendingStatus(p.status), opts, purchase);
}

// ---------------------------------------------------------------------------
// History (read model)

export function getHistory(userId: string): Promise<HistorySummary> {
  return get<HistorySummary>(`/histories/${seg(userId)}`);
}

export function timelineOf(summary: HistorySummary | null): TimelineEntry[] {
  return summary?._embedded?.timeline ?? [];
}
