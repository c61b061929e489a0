// The app shell and sign-in. oidc-client-ts's UserManager is replaced at the
// module boundary by a fake that records what the app asks of it; the rest
// of the library (its storage classes) is the real one.
import { flushPromises, mount } from '@vue/test-utils';
import { WebStorageStateStore, type User, type UserManagerSettings } from 'oidc-client-ts';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createMemoryHistory } from 'vue-router';
import App from '../src/App.vue';
import { apiConfig } from '../src/api';
import { decodeJwtPayload, renewAccess, resetAuth, rolesOf, signIn, signOut, signUp, startAuth } from '../src/auth';
import { createAppRouter } from '../src/router';
import { session } from '../src/session';
import { IDEMPOTENCY_KEY, accessTokenFor, collection, hal, mockApi, problem, signInAs, type Route } from './helpers';

type Listener = (arg?: unknown) => void;

const fake = vi.hoisted(() => ({
  managers: [] as FakeManager[],
  /** What the next signinCallback / signinSilent resolve to (an Error rejects). */
  callbackUser: null as unknown,
  silentUser: null as unknown,
  metadata: {} as Record<string, unknown>,
}));

interface FakeManager {
  settings: UserManagerSettings;
  listeners: Record<string, Listener[]>;
  signinRedirect: ReturnType<typeof vi.fn>;
  signinCallback: ReturnType<typeof vi.fn>;
  signinSilent: ReturnType<typeof vi.fn>;
  signoutRedirect: ReturnType<typeof vi.fn>;
  signoutCallback: ReturnType<typeof vi.fn>;
  removeUser: ReturnType<typeof vi.fn>;
}

vi.mock('oidc-client-ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('oidc-client-ts')>();
  class UserManager implements FakeManager {
    listeners: Record<string, Listener[]> = { loaded: [], unloaded: [], expired: [], renewError: [] };
    events = {
      addUserLoaded: (cb: Listener) => this.listeners.loaded.push(cb),
      addUserUnloaded: (cb: Listener) => this.listeners.unloaded.push(cb),
      addAccessTokenExpired: (cb: Listener) => this.listeners.expired.push(cb),
      addSilentRenewError: (cb: Listener) => this.listeners.renewError.push(cb),
    };
    metadataService = { getMetadata: async () => fake.metadata };
    signinRedirect = vi.fn(async () => undefined);
    signoutRedirect = vi.fn(async () => undefined);
    signoutCallback = vi.fn(async () => undefined);
    removeUser = vi.fn(async () => this.listeners.unloaded.forEach((cb) => cb()));
    signinCallback = vi.fn(async () => this.answer(fake.callbackUser));
    signinSilent = vi.fn(async () => this.answer(fake.silentUser));
    constructor(readonly settings: UserManagerSettings) {
      fake.managers.push(this);
    }
    private answer(user: unknown) {
      if (user instanceof Error) throw user;
      if (user) this.listeners.loaded.forEach((cb) => cb(user)); // as the real one does
      return user;
    }
  }
  return { ...real, UserManager };
});

const CONFIG = { issuer: 'http://issuer.test/realms/webtoon', clientId: 'webtoon-web', audience: 'webtoon-api' };
const configRoute: Route = { method: 'GET', path: '/config.json', reply: hal(CONFIG) };

function fakeUser(userId: string, roles: string[] = ['reader'], returnTo = '/'): User {
  return {
    access_token: accessTokenFor(userId, roles),
    refresh_token: 'refresh',
    profile: { sub: `sub-${userId}`, preferred_username: userId, iss: CONFIG.issuer, aud: 'webtoon-web', exp: 0, iat: 0 },
    state: { returnTo },
    expired: false,
  } as unknown as User;
}

function manager(): FakeManager {
  expect(fake.managers).toHaveLength(1);
  return fake.managers[0];
}

async function mountApp(path = '/') {
  const router = createAppRouter(createMemoryHistory());
  await router.push(path);
  await router.isReady();
  const wrapper = mount(App, { attachTo: document.body, global: { plugins: [router] } });
  await flushPromises();
  return { wrapper, router };
}

const header = () => document.querySelector('header')!;
const headerButtons = () => Array.from(header().querySelectorAll('button')).map((b) => b.textContent?.trim());
const navLinks = () => Array.from(document.querySelectorAll('nav a')).map((a) => a.textContent?.trim());

// (Not in tests/setup.ts: importing auth.ts there would load the real
// oidc-client-ts before this file's mock is in place.)
beforeEach(() => resetAuth());

afterEach(() => {
  fake.managers.length = 0;
  fake.callbackUser = null;
  fake.silentUser = null;
  fake.metadata = {};
  window.history.replaceState(null, '', '/');
});

describe('app shell', () => {
  it('has a working skip link, labelled navigation, and moves focus to the new heading on navigation', async () => {
    mockApi([
      { method: 'GET', path: '/series', reply: hal(collection('series', [])) },
      { method: 'GET', path: '/libraries/alice', reply: hal({ userId: 'alice', owned: [] }) },
      { method: 'GET', path: '/histories/alice', reply: hal({ userId: 'alice', status: 'joined', myPoint: 0, _embedded: { timeline: [] } }) },
    ]);
    signInAs('alice');
    const { wrapper, router } = await mountApp();

    const skip = wrapper.find('a.skip-link');
    expect(skip.element).toBe(document.body.querySelector('a'));
    await skip.trigger('click');
    expect(document.activeElement).toBe(wrapper.find('main#main').element);
    expect(router.currentRoute.value.path).toBe('/'); // the hash router was not sent to "#main"

    expect(wrapper.find('nav').attributes('aria-label')).toBe('Main');
    const historyLink = wrapper.findAll('nav a').find((a) => a.text() === 'My history')!;
    await historyLink.trigger('click');
    await vi.waitFor(() => expect(router.currentRoute.value.path).toBe('/history'));
    await flushPromises();
    const h1 = wrapper.find('main h1');
    expect(h1.text()).toBe('My history');
    expect(document.activeElement).toBe(h1.element);
    expect(h1.attributes('tabindex')).toBe('-1');
    expect(document.title).toBe('My history · Webtoon store');
    expect(historyLink.attributes('aria-current')).toBe('page');
  });
});

describe('signed out', () => {
  it('shows Sign in and Sign up, no name and no admin link; the user manager is set up from /config.json', async () => {
    const api = mockApi([configRoute, { method: 'GET', path: '/series', reply: hal(collection('series', [])) }]);
    expect(await startAuth()).toBe('app');
    const { wrapper } = await mountApp();

    expect(session.status).toBe('signed-out');
    expect(headerButtons()).toEqual(['Sign in', 'Sign up']);
    expect(header().textContent).not.toContain('Signed in as');
    expect(navLinks()).toEqual(['Catalog', 'My library', 'My points', 'My history']);
    expect(wrapper.find('.notice').text()).toContain('to buy episodes');
    expect(api.to('GET', '/config.json')).toHaveLength(1);
    // Nothing was signed in on this tab before: no silent attempt.
    expect(manager().signinSilent).not.toHaveBeenCalled();

    const s = manager().settings;
    expect(s).toMatchObject({
      authority: CONFIG.issuer,
      client_id: 'webtoon-web',
      redirect_uri: `${window.location.origin}/callback`,
      post_logout_redirect_uri: `${window.location.origin}/`,
      response_type: 'code',
      scope: 'openid profile',
      automaticSilentRenew: true,
    });
    // Tokens in memory only: what the user store keeps reaches neither storage.
    expect(s.userStore).toBeInstanceOf(WebStorageStateStore);
    await s.userStore!.set('user:probe', 'secret-token');
    expect(await s.userStore!.get('user:probe')).toBe('secret-token');
    expect(JSON.stringify({ ...localStorage })).not.toContain('secret-token');
    expect(JSON.stringify({ ...sessionStorage })).not.toContain('secret-token');
  });

  it('Sign in goes to the issuer and comes back to the same screen', async () => {
    mockApi([configRoute]);
    await startAuth();
    const { wrapper } = await mountApp('/history');
    expect(wrapper.find('main').text()).toContain('To see your history, please sign in.');
    await wrapper.find('header').findAll('button').find((b) => b.text() === 'Sign in')!.trigger('click');
    await flushPromises();
    expect(manager().signinRedirect).toHaveBeenCalledWith({ state: { returnTo: '/history' }, prompt: undefined });
  });

  it('Sign up opens the registration page where the issuer offers prompt=create, else its sign-in page', async () => {
    mockApi([configRoute]);
    await startAuth();
    await signUp('/points');
    expect(manager().signinRedirect).toHaveBeenLastCalledWith({ state: { returnTo: '/points' }, prompt: undefined });
    fake.metadata = { prompt_values_supported: ['none', 'login', 'create'] };
    await signUp('/points');
    expect(manager().signinRedirect).toHaveBeenLastCalledWith({ state: { returnTo: '/points' }, prompt: 'create' });
  });

  it('says so when sign-in is not available, and still shows the catalog', async () => {
    mockApi([
      { method: 'GET', path: '/config.json', reply: problem(404, 'not-found', 'Not found') },
      { method: 'GET', path: '/series', reply: hal(collection('series', [])) },
    ]);
    await startAuth();
    const { wrapper } = await mountApp();
    expect(wrapper.find('h1').text()).toBe('Catalog');
    expect(session.error).toMatch(/^Sign-in is not available right now\./);
    await signIn('/');
    expect(session.error).toMatch(/^Could not start signing in\./);
    expect(fake.managers).toHaveLength(0);
  });
});

describe('back from the issuer (/callback)', () => {
  it('completes sign-in, makes sure the account exists, returns to the screen, and the header shows the name', async () => {
    window.history.replaceState(null, '', '/callback?code=abc&state=xyz');
    fake.callbackUser = fakeUser('june', ['reader'], '/points');
    const api = mockApi([
      configRoute,
      { method: 'POST', path: '/pointers', reply: hal({ userId: 'june', point: 0, status: 'joined' }, 201) },
      { method: 'GET', path: '/series', reply: hal(collection('series', [])) },
      { method: 'GET', path: '/libraries/june', reply: hal({ userId: 'june', owned: [] }) },
    ]);
    expect(await startAuth()).toBe('app');

    expect(manager().signinCallback).toHaveBeenCalledTimes(1);
    expect(window.location.pathname + window.location.hash).toBe('/#/points'); // the code is out of the address
    expect(session).toMatchObject({ status: 'signed-in', name: 'june', userId: 'june', isAdmin: false });
    const joins = api.to('POST', '/pointers');
    expect(joins).toHaveLength(1); // once, although the user was loaded twice (event and result)
    expect(joins[0].body).toEqual({ userId: 'june' });
    expect(joins[0].headers.get('Authorization')).toBe(`Bearer ${(fake.callbackUser as User).access_token}`);
    expect(joins[0].headers.get('Idempotency-Key')).toMatch(IDEMPOTENCY_KEY);
    expect(decodeJwtPayload(apiConfig.auth!.accessToken())?.preferred_username).toBe('june');

    await mountApp();
    expect(header().querySelector('[data-testid="signed-in-name"]')!.textContent).toBe('june');
    expect(header().textContent).toContain('Signed in as june');
    expect(headerButtons()).toEqual(['Sign out']);
    expect(navLinks()).toEqual(['Catalog', 'My library', 'My points', 'My history']); // a reader: no admin link
    expect(api.to('GET', '/libraries/june')[0].headers.get('Authorization')).toMatch(/^Bearer /);
  });

  it('takes 409 (joined before) as fine', async () => {
    window.history.replaceState(null, '', '/callback?code=abc&state=xyz');
    fake.callbackUser = fakeUser('june');
    mockApi([configRoute, { method: 'POST', path: '/pointers', reply: problem(409, 'already-exists', 'Already exists') }]);
    await startAuth();
    expect(session).toMatchObject({ status: 'signed-in', userId: 'june', error: null });
  });

  it('never returns to anything but a screen of this app', async () => {
    window.history.replaceState(null, '', '/callback?code=abc&state=xyz');
    fake.callbackUser = fakeUser('june', ['reader'], '//evil.test/x');
    mockApi([configRoute, { method: 'POST', path: '/pointers', reply: hal({}, 201) }]);
    await startAuth();
    expect(window.location.pathname + window.location.hash).toBe('/#/');
  });

  it('says when the issuer cannot be reached to finish signing in', async () => {
    window.history.replaceState(null, '', '/callback?code=abc&state=xyz');
    fake.callbackUser = new TypeError('Failed to fetch');
    mockApi([configRoute]);
    await startAuth();
    expect(session.error).toBe('Signing in did not work. The sign-in service could not be reached (Failed to fetch).');
  });

  it('explains a failed sign-in and stays signed out', async () => {
    window.history.replaceState(null, '', '/callback?error=access_denied&state=xyz');
    fake.callbackUser = new Error('access_denied');
    mockApi([configRoute]);
    await startAuth();
    expect(session.status).toBe('signed-out');
    expect(session.error).toBe('Signing in did not work. access_denied.');
    expect(window.location.pathname + window.location.hash).toBe('/#/');
  });
});

describe('admins and readers', () => {
  it('shows the admin link only when the access token has the admin role', async () => {
    window.history.replaceState(null, '', '/callback?code=abc&state=xyz');
    fake.callbackUser = fakeUser('root', ['reader', 'admin']);
    mockApi([
      configRoute,
      { method: 'POST', path: '/pointers', reply: hal({}, 201) },
      { method: 'GET', path: '/series', reply: hal(collection('series', [])) },
      { method: 'GET', path: '/libraries/root', reply: hal({ userId: 'root', owned: [] }) },
    ]);
    await startAuth();
    expect(session.isAdmin).toBe(true);
    const { router } = await mountApp('/admin');
    expect(navLinks()).toEqual(['Catalog', 'My library', 'My points', 'My history', 'Admin']);
    expect(router.currentRoute.value.path).toBe('/admin');
  });

  it('sends readers and visitors away from the admin route', async () => {
    mockApi([
      { method: 'GET', path: '/series', reply: hal(collection('series', [])) },
      { method: 'GET', path: '/libraries/alice', reply: hal({ userId: 'alice', owned: [] }) },
    ]);
    const visitor = await mountApp('/admin');
    expect(visitor.router.currentRoute.value.path).toBe('/');
    visitor.wrapper.unmount();

    signInAs('alice');
    const reader = await mountApp('/admin');
    expect(reader.router.currentRoute.value.path).toBe('/');
    expect(reader.wrapper.find('h1').text()).toBe('Catalog');
    expect(navLinks()).not.toContain('Admin');
  });

  it('reads realm_access.roles from the token payload', () => {
    expect(rolesOf(accessTokenFor('root', ['admin']))).toEqual(['admin']);
    expect(rolesOf('not a jwt')).toEqual([]);
    expect(rolesOf(null)).toEqual([]);
  });
});

describe('staying signed in, and signing out', () => {
  it('after a reload of a signed-in tab, signs in again silently', async () => {
    sessionStorage.setItem('webtoon.auth.signedIn', '1');
    fake.silentUser = fakeUser('june');
    mockApi([configRoute, { method: 'POST', path: '/pointers', reply: problem(409, 'already-exists', 'Already exists') }]);
    await startAuth();
    expect(manager().signinSilent).toHaveBeenCalledTimes(1);
    expect(session).toMatchObject({ status: 'signed-in', userId: 'june' });
  });

  it('when the silent sign-in is refused, is simply signed out', async () => {
    sessionStorage.setItem('webtoon.auth.signedIn', '1');
    fake.silentUser = new Error('login_required');
    mockApi([configRoute]);
    await startAuth();
    expect(session.status).toBe('signed-out');
    expect(sessionStorage.getItem('webtoon.auth.signedIn')).toBeNull();
  });

  it('a refused renewal ends the sign-in and offers to sign in again', async () => {
    window.history.replaceState(null, '', '/callback?code=abc&state=xyz');
    fake.callbackUser = fakeUser('june');
    mockApi([
      configRoute,
      { method: 'POST', path: '/pointers', reply: hal({}, 201) },
      { method: 'GET', path: '/series', reply: hal(collection('series', [])) },
      { method: 'GET', path: '/libraries/june', reply: hal({ userId: 'june', owned: [] }) },
    ]);
    await startAuth();
    const { wrapper } = await mountApp();
    fake.silentUser = new Error('invalid_grant');
    expect(await renewAccess()).toBe(false);
    await flushPromises();
    expect(session.status).toBe('expired');
    expect(manager().removeUser).toHaveBeenCalled();
    expect(wrapper.find('main').text()).toContain('Your sign-in has ended.');
    expect(wrapper.find('main').findAll('button').map((b) => b.text())).toContain('Sign in again');
    expect(headerButtons()).toEqual(['Sign in', 'Sign up']);
  });

  it('Sign out goes to the issuer (end_session) and forgets the tab was signed in', async () => {
    window.history.replaceState(null, '', '/callback?code=abc&state=xyz');
    fake.callbackUser = fakeUser('june');
    mockApi([
      configRoute,
      { method: 'POST', path: '/pointers', reply: hal({}, 201) },
      { method: 'GET', path: '/series', reply: hal(collection('series', [])) },
      { method: 'GET', path: '/libraries/june', reply: hal({ userId: 'june', owned: [] }) },
    ]);
    await startAuth();
    expect(sessionStorage.getItem('webtoon.auth.signedIn')).toBe('1');
    const { wrapper } = await mountApp();
    await wrapper.find('header').findAll('button').find((b) => b.text() === 'Sign out')!.trigger('click');
    await flushPromises();
    expect(manager().signoutRedirect).toHaveBeenCalledTimes(1);
    expect(sessionStorage.getItem('webtoon.auth.signedIn')).toBeNull();
  });

  it('signs out here at least when the issuer has no end_session endpoint', async () => {
    window.history.replaceState(null, '', '/callback?code=abc&state=xyz');
    fake.callbackUser = fakeUser('june');
    mockApi([configRoute, { method: 'POST', path: '/pointers', reply: hal({}, 201) }]);
    await startAuth();
    manager().signoutRedirect.mockRejectedValueOnce(new Error('No end session endpoint'));
    await signOut();
    expect(session.status).toBe('signed-out');
    expect(apiConfig.auth!.accessToken()).toBeNull();
    expect(session.error).toBe('Signed out on this browser only. No end session endpoint.');
  });
});
