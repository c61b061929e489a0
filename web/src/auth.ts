// Sign-in with OpenID Connect: the authorization code flow with PKCE
// (oidc-client-ts), against whichever issuer /config.json names, the
// built-in one or Keycloak. Everything about the issuer (its endpoints, what
// it supports) comes from its discovery document.
//
// - Tokens live in memory only (InMemoryWebStorage): never in localStorage
//   or sessionStorage. Only the sign-in round trip's state (PKCE verifier,
//   nonce, where to return) sits in sessionStorage until /callback uses it,
//   plus a flag saying "signed in on this tab" (no token) so that a reload
//   can try a silent sign-in (prompt=none) with the issuer's session.
// - The access token is renewed before it expires with the refresh token
//   (automaticSilentRenew), and once more when the API answers 401.
// - The userId of every call is the access token's preferred_username (what
//   the server reads too); after a sign-in the account is made sure of with
//   POST /pointers (201 created, 409 already there: both fine).
// - Roles are read from the access token for what the UI shows; the server
//   checks the token for real.
import { InMemoryWebStorage, UserManager, WebStorageStateStore, type User } from 'oidc-client-ts';
import { ApiError, apiConfig, errorMessage, join, newIdempotencyKey } from './api';
import { session, setAccountReady, setLoading, setSessionError, setSignedIn, setSignedOut } from './session';

export interface AuthConfig {
  issuer: string;
  clientId: string;
  audience: string;
}

/** Where the app is told which issuer to use (served by `webtoon serve web`). */
export const CONFIG_URL = '/config.json';
/** The path the issuer sends the browser back to. */
export const CALLBACK_PATH = '/callback';
/** sessionStorage: this tab was signed in (a flag, not a token). */
const SIGNED_IN_HINT = 'webtoon.auth.signedIn';
/** How long a silent sign-in after a reload may take before giving up. */
const SILENT_TIMEOUT_S = 5;

let manager: UserManager | null = null;
let audience = '';
let managerReady: Promise<UserManager> | null = null;
let current: User | null = null;
let renewing: Promise<boolean> | null = null;
/** Accounts made sure of during this page's life. */
const accountsChecked = new Map<string, Promise<void>>();

// ---------------------------------------------------------------------------
// Token contents (display only: never a security decision)

/** The payload of a JWT, decoded without any check; null when it is not one. */
export function decodeJwtPayload(token: string | null | undefined): Record<string, unknown> | null {
  const part = token?.split('.')[1];
  if (!part) return null;
  try {
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** realm_access.roles of an access token. */
export function rolesOf(accessToken: string | null | undefined): string[] {
  const realm = decodeJwtPayload(accessToken)?.realm_access as { roles?: unknown } | undefined;
  return Array.isArray(realm?.roles) ? realm.roles.filter((r): r is string => typeof r === 'string') : [];
}

/** The user a sign-in acts for: preferred_username (else sub) of the access token, as the server reads it. */
export function userIdOf(user: User): string | null {
  const claims = decodeJwtPayload(user.access_token) ?? {};
  for (const v of [claims.preferred_username, claims.sub, user.profile?.preferred_username, user.profile?.sub]) {
    if (typeof v === 'string' && v) return v;
  }
  return null;
}

// ---------------------------------------------------------------------------
// Setting up

function isAuthConfig(v: unknown): v is AuthConfig {
  const c = v as Partial<AuthConfig> | null;
  return !!c && typeof c.issuer === 'string' && !!c.issuer && typeof c.clientId === 'string' && !!c.clientId;
}

export async function fetchAuthConfig(): Promise<AuthConfig> {
  const res = await fetch(CONFIG_URL, { headers: { Accept: 'application/json' } });
  if (!res.ok) throw new Error(`${CONFIG_URL} answered HTTP ${res.status}`);
  const body: unknown = JSON.parse(await res.text());
  if (!isAuthConfig(body)) throw new Error(`${CONFIG_URL} does not name an issuer and a client`);
  return { issuer: body.issuer, clientId: body.clientId, audience: typeof body.audience === 'string' ? body.audience : '' };
}

export function createUserManager(config: AuthConfig, origin = window.location.origin): UserManager {
  return new UserManager({
    authority: config.issuer,
    client_id: config.clientId,
    redirect_uri: `${origin}${CALLBACK_PATH}`,
    post_logout_redirect_uri: `${origin}/`,
    response_type: 'code',
    scope: 'openid profile',
    userStore: new WebStorageStateStore({ store: new InMemoryWebStorage() }),
    stateStore: new WebStorageStateStore({ store: window.sessionStorage, prefix: 'webtoon.oidc.' }),
    automaticSilentRenew: true,
    silentRequestTimeoutInSeconds: SILENT_TIMEOUT_S,
    loadUserInfo: false,
  });
}

function hint(on: boolean): void {
  try {
    if (on) window.sessionStorage.setItem(SIGNED_IN_HINT, '1');
    else window.sessionStorage.removeItem(SIGNED_IN_HINT);
  } catch {
    /* storage disabled: a reload just starts signed out */
  }
}

function hinted(): boolean {
  try {
    return window.sessionStorage.getItem(SIGNED_IN_HINT) === '1';
  } catch {
    return false;
  }
}

/** Creates the account of <userId> unless it exists; either way the session's userId is set. */
function ensureAccount(userId: string): Promise<void> {
  let p = accountsChecked.get(userId);
  if (!p) {
    p = join(userId, newIdempotencyKey()).then(
      () => undefined,
      (e: unknown) => {
        if (e instanceof ApiError && e.status === 409) return; // joined before
        accountsChecked.delete(userId); // try again at the next sign-in
        setSessionError(`Could not set up your account. ${errorMessage(e)}`);
      },
    );
    accountsChecked.set(userId, p);
  }
  return p.then(() => setAccountReady(userId));
}

let audienceWarned = false;

/** A token without the API's audience will be refused: say so in the console, once. */
function warnAudience(accessToken: string): void {
  if (!audience || audienceWarned) return;
  const aud = decodeJwtPayload(accessToken)?.aud;
  const list = Array.isArray(aud) ? aud : [aud];
  if (list.includes(audience)) return;
  audienceWarned = true;
  console.warn(`webtoon: the access token's audience ${JSON.stringify(aud)} does not name ${audience}: the API will refuse it`);
}

/** Makes the session say what <user> is (null or expired: signed out). */
function applyUser(user: User | null, expired = false): Promise<void> {
  current = user && !user.expired ? user : null;
  const userId = current ? userIdOf(current) : null;
  if (!current || !userId) {
    setSignedOut(expired);
    return Promise.resolve();
  }
  warnAudience(current.access_token);
  const roles = rolesOf(current.access_token);
  const ready = accountsChecked.has(userId) && session.userId === userId;
  setSignedIn(userId, roles, ready);
  return ready ? Promise.resolve() : ensureAccount(userId);
}

function wire(m: UserManager): void {
  m.events.addUserLoaded((user) => void applyUser(user)); // sign-in and every renewal
  m.events.addUserUnloaded(() => {
    if (current) void applyUser(null); // endLocally has said why already
  });
  m.events.addAccessTokenExpired(() => {
    // The renewal before expiry failed (issuer down, refresh token gone):
    // one more try, else the sign-in is over.
    void renewAccess();
  });
  m.events.addSilentRenewError((e) => {
    console.warn('webtoon: renewing the sign-in failed:', e.message);
  });
}

/** One silent renewal at a time: the refresh token, or prompt=none with the issuer's session. */
export function renewAccess(): Promise<boolean> {
  const m = manager;
  if (!m) return Promise.resolve(false);
  renewing ??= m
    .signinSilent()
    .then(async (user) => {
      if (!user) throw new Error('no user');
      await applyUser(user);
      return true;
    })
    .catch(async () => {
      await endLocally(true);
      return false;
    })
    .finally(() => {
      renewing = null;
    });
  return renewing;
}

/** Forgets the tokens here, without asking the issuer. */
async function endLocally(expired: boolean): Promise<void> {
  hint(false);
  current = null;
  setSignedOut(expired);
  await manager?.removeUser().catch(() => undefined);
}

function hooks(): void {
  apiConfig.auth = {
    // Even when past its expiry: the API's 401 then renews it once.
    accessToken: () => current?.access_token ?? null,
    renew: renewAccess,
    signedOut: () => void endLocally(true),
  };
}

/** Plain words for a failure talking to the issuer. */
function issuerProblem(e: unknown): string {
  if (e instanceof TypeError) return `The sign-in service could not be reached (${e.message}).`;
  const text = e instanceof Error ? e.message : String(e);
  return /[.!?]$/.test(text) ? text : `${text}.`;
}

/** Where to go after the callback: the hash path the sign-in started from. */
function returnPathOf(user: User | undefined): string {
  const s = user?.state as { returnTo?: unknown } | undefined;
  const to = typeof s?.returnTo === 'string' ? s.returnTo : '/';
  // Only a screen of this app: "/points", never "//elsewhere" or a URL.
  return /^\/(?!\/)[^\s\\]*$/.test(to) ? to : '/';
}

function replaceUrl(path: string): void {
  window.history.replaceState(null, '', `/#${path}`);
}

/**
 * Starts sign-in for this page. Returns 'frame' when this page is the
 * hidden iframe of a silent sign-in (nothing else to do there), else 'app'.
 * On /callback it completes the sign-in and sets the address to the screen
 * the user was on, so call it before the router reads the address.
 */
export async function startAuth(): Promise<'app' | 'frame'> {
  const loc = window.location;
  const atCallback = loc.pathname === CALLBACK_PATH;
  const inFrame = window.parent !== window;
  setLoading();
  hooks();
  let m: UserManager;
  try {
    managerReady = fetchAuthConfig().then((cfg) => {
      audience = cfg.audience;
      manager = createUserManager(cfg);
      wire(manager);
      return manager;
    });
    m = await managerReady;
  } catch (e) {
    managerReady = null;
    setSignedOut();
    setSessionError(`Sign-in is not available right now. ${errorMessage(e)}`);
    if (atCallback && !inFrame) replaceUrl('/');
    return atCallback && inFrame ? 'frame' : 'app';
  }

  if (atCallback && inFrame) {
    await m.signinCallback().catch(() => undefined); // hands the answer to the parent page
    return 'frame';
  }
  if (atCallback) {
    try {
      const user = await m.signinCallback();
      if (!user) throw new Error('the issuer sent no sign-in');
      hint(true);
      replaceUrl(returnPathOf(user));
      await applyUser(user);
    } catch (e) {
      replaceUrl('/');
      setSignedOut();
      setSessionError(`Signing in did not work. ${issuerProblem(e)}`);
    }
    return 'app';
  }
  if (new URLSearchParams(loc.search).has('state')) {
    // Back from the issuer's sign-out: drop its state and the query.
    await m.signoutCallback().catch(() => undefined);
    window.history.replaceState(null, '', `/${loc.hash}`);
  }
  if (!hinted()) {
    setSignedOut();
    return 'app';
  }
  // A reload of a signed-in tab: the tokens were in memory, so ask the
  // issuer's session for new ones without showing anything.
  try {
    const user = await m.signinSilent();
    if (!user) throw new Error('no user');
    await applyUser(user);
  } catch {
    hint(false);
    setSignedOut();
  }
  return 'app';
}

async function ready(): Promise<UserManager> {
  if (manager) return manager;
  if (managerReady) return managerReady;
  throw new Error('sign-in is not set up');
}

/** Sends the browser to the issuer's sign-in page; back at <returnTo> (a screen path) afterwards. */
export async function signIn(returnTo = '/', opts: { signUp?: boolean } = {}): Promise<void> {
  setSessionError(null);
  try {
    const m = await ready();
    let prompt: string | undefined;
    if (opts.signUp) {
      // Straight to registration where the issuer says it can (prompt=create,
      // Keycloak 26.1+); otherwise its sign-in page links to sign-up.
      const meta = (await m.metadataService.getMetadata()) as Record<string, unknown>;
      const prompts = meta.prompt_values_supported;
      if (Array.isArray(prompts) && prompts.includes('create')) prompt = 'create';
    }
    await m.signinRedirect({ state: { returnTo }, prompt });
  } catch (e) {
    setSessionError(`Could not start signing in. ${issuerProblem(e)}`);
  }
}

export function signUp(returnTo = '/'): Promise<void> {
  return signIn(returnTo, { signUp: true });
}

/** Signs out here and at the issuer (its end_session endpoint), back to the catalog. */
export async function signOut(): Promise<void> {
  setSessionError(null);
  hint(false);
  accountsChecked.clear();
  const m = manager;
  if (!m) {
    await endLocally(false);
    return;
  }
  try {
    await m.signoutRedirect();
  } catch (e) {
    // No end_session endpoint, or the issuer is unreachable: at least here.
    await endLocally(false);
    setSessionError(`Signed out on this browser only. ${issuerProblem(e)}`);
  }
}

/** Forgets everything (tests). */
export function resetAuth(): void {
  manager = null;
  managerReady = null;
  current = null;
  renewing = null;
  audience = '';
  audienceWarned = false;
  accountsChecked.clear();
  apiConfig.auth = null;
}
