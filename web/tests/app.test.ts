import { flushPromises, mount } from '@vue/test-utils';
import { describe, expect, it, vi } from 'vitest';
import { createMemoryHistory } from 'vue-router';
import App from '../src/App.vue';
import AccountView from '../src/views/AccountView.vue';
import { createAppRouter } from '../src/router';
import { session, setCurrentUser } from '../src/session';
import { IDEMPOTENCY_KEY, collection, hal, mockApi, mountAt, problem } from './helpers';

async function mountApp() {
  const router = createAppRouter(createMemoryHistory());
  await router.push('/');
  await router.isReady();
  const wrapper = mount(App, { attachTo: document.body, global: { plugins: [router] } });
  await flushPromises();
  return { wrapper, router };
}

describe('app shell', () => {
  it('has a working skip link, labelled navigation, and moves focus to the new heading on navigation', async () => {
    mockApi([
      { method: 'GET', path: '/webtoons', reply: hal(collection('webtoons', [])) },
      { method: 'GET', path: '/histories/alice', reply: hal({ userId: 'alice', status: 'joined', myPoint: 0, _embedded: { timeline: [] } }) },
    ]);
    setCurrentUser('alice');
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

  it('switches between users remembered on this browser from the header', async () => {
    mockApi([
      { method: 'GET', path: '/webtoons', reply: hal(collection('webtoons', [])) },
      { method: 'GET', path: /^\/libraries\//, reply: hal({ userId: 'x', owned: [] }) },
    ]);
    setCurrentUser('bob');
    setCurrentUser('alice');
    const { wrapper } = await mountApp();
    const select = wrapper.find('select#user-switch');
    expect(wrapper.find('label[for="user-switch"]').text()).toBe('Reading as');
    expect(select.findAll('option').map((o) => o.text())).toEqual(['alice', 'bob']);
    await select.setValue('bob');
    expect(session.userId).toBe('bob');
    expect(localStorage.getItem('webtoon.currentUser')).toBe('bob');
  });
});

describe('sign up or pick a user', () => {
  it('signs up with POST /pointers, remembers the user, and goes to the catalog', async () => {
    const api = mockApi([
      { method: 'POST', path: '/pointers', reply: hal({ userId: 'carol', point: 0, status: 'joined' }, 201) },
      { method: 'GET', path: '/webtoons', reply: hal(collection('webtoons', [])) },
    ]);
    const { wrapper, router } = await mountAt(AccountView, '/account');
    await wrapper.find('#signup-name').setValue('carol');
    await wrapper.findAll('form')[0].trigger('submit');
    await vi.waitFor(() => expect(router.currentRoute.value.path).toBe('/'));
    expect(api.to('POST', '/pointers')[0].body).toEqual({ userId: 'carol' });
    expect(api.to('POST', '/pointers')[0].headers.get('Idempotency-Key')).toMatch(IDEMPOTENCY_KEY);
    expect(session.userId).toBe('carol');
    expect(JSON.parse(localStorage.getItem('webtoon.knownUsers')!)).toEqual(['carol']);
  });

  it('checks the name before sending and explains a taken name', async () => {
    const api = mockApi([
      { method: 'POST', path: '/pointers', reply: problem(409, 'already-exists', 'Already exists', 'User carol already exists') },
    ]);
    const { wrapper } = await mountAt(AccountView, '/account');
    await wrapper.find('#signup-name').setValue('carol smith');
    await wrapper.findAll('form')[0].trigger('submit');
    expect(wrapper.find('#signup-name-error').text()).toBe(
      'A user name may only use letters, digits, dot, dash, underscore or colon.',
    );
    expect(api.calls).toHaveLength(0);

    await wrapper.find('#signup-name').setValue('carol');
    await wrapper.findAll('form')[0].trigger('submit');
    await vi.waitFor(() => expect(wrapper.find('.message-error').exists()).toBe(true));
    expect(wrapper.find('.message-error').text()).toBe('The name "carol" is taken. If it is yours, use "Continue as" below.');
    expect(session.userId).toBeNull();
  });

  it('continues as an existing user only when the account exists', async () => {
    mockApi([
      { method: 'GET', path: '/pointers/ghost', reply: problem(404, 'unknown-user', 'Unknown user') },
      { method: 'GET', path: '/pointers/alice', reply: hal({ userId: 'alice', point: 5, status: 'joined' }) },
      { method: 'GET', path: '/webtoons', reply: hal(collection('webtoons', [])) },
      { method: 'GET', path: '/libraries/alice', reply: hal({ userId: 'alice', owned: [] }) },
    ]);
    const { wrapper, router } = await mountAt(AccountView, '/account');
    await wrapper.find('#continue-name').setValue('ghost');
    await wrapper.findAll('form')[1].trigger('submit');
    await vi.waitFor(() => expect(wrapper.find('.message-error').exists()).toBe(true));
    expect(wrapper.find('.message-error').text()).toBe('There is no account named "ghost". Sign up with that name first.');
    expect(session.userId).toBeNull();

    await wrapper.find('#continue-name').setValue('alice');
    await wrapper.findAll('form')[1].trigger('submit');
    await vi.waitFor(() => expect(router.currentRoute.value.path).toBe('/'));
    expect(session.userId).toBe('alice');
  });
});
