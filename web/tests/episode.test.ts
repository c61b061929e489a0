import { flushPromises } from '@vue/test-utils';
import { describe, expect, it, vi } from 'vitest';
import EpisodeView from '../src/views/EpisodeView.vue';
import { IDEMPOTENCY_KEY, hal, mockApi, mountAt, problem, type Route, signInAs } from './helpers';

const niceguy = { webtoonId: 'niceguy-1', title: 'Nice Guy', author: 'Kim', point: 100, episode: 1, status: 'published' };
const expensive = { webtoonId: 'epic-1', title: 'Epic', author: 'Cho', point: 600, episode: 1, status: 'published' };
const sunny = { webtoonId: 'sunny-1', title: 'Sunny Days', author: 'Lee', point: 0, episode: 1, status: 'published' };

function routesFor(webtoon: typeof niceguy, balance: number, extra: Route[] = []): Route[] {
  return [
    { method: 'GET', path: `/webtoons/${webtoon.webtoonId}`, reply: hal(webtoon) },
    { method: 'GET', path: '/libraries/alice', reply: hal({ userId: 'alice', owned: [] }) },
    ...extra,
    { method: 'GET', path: '/pointers/alice', reply: hal({ userId: 'alice', point: balance, status: 'joined' }) },
  ];
}

function pending(webtoon: typeof niceguy) {
  return { purchaseId: 'b-1', userId: 'alice', webtoonId: webtoon.webtoonId, point: webtoon.point, status: 'pending' };
}

function buttonNamed(wrapper: Awaited<ReturnType<typeof mountAt>>['wrapper'], name: string) {
  const b = wrapper.findAll('button').find((x) => x.text() === name);
  if (!b) throw new Error(`no button "${name}" in: ${wrapper.findAll('button').map((x) => x.text())}`);
  return b;
}

describe('episode page: buying', () => {
  it('confirms the price and the balance after, then follows the purchase from pending to approved', async () => {
    signInAs('alice');
    const api = mockApi(
      routesFor(niceguy, 600, [
        { method: 'POST', path: '/purchases', reply: hal(pending(niceguy), 202) },
        {
          method: 'GET',
          path: '/purchases/b-1',
          reply: [hal(pending(niceguy)), hal({ ...pending(niceguy), status: 'approved', myPoint: 500 })],
        },
      ]),
    );
    const { wrapper } = await mountAt(EpisodeView, '/episodes/niceguy-1', { props: { id: 'niceguy-1' } });
    expect(wrapper.find('h1').text()).toBe('Nice Guy, episode 1');

    const buyButton = buttonNamed(wrapper, 'Buy for 100 points');
    await buyButton.trigger('click');
    await flushPromises();

    const dialog = wrapper.find('[role="dialog"]');
    expect(dialog.exists()).toBe(true);
    expect(dialog.attributes('aria-modal')).toBe('true');
    expect(wrapper.find(`#${dialog.attributes('aria-labelledby')}`).text()).toBe('Buy Nice Guy, episode 1?');
    expect(dialog.find('[data-testid="confirm-price"]').text()).toBe('100 points');
    expect(dialog.text()).toContain('Your balance now600 points');
    expect(dialog.find('[data-testid="confirm-after"]').text()).toBe('500 points');
    // Nothing is bought before the explicit confirmation.
    expect(api.to('POST', '/purchases')).toHaveLength(0);
    // Focus starts on the safe choice.
    expect(document.activeElement?.textContent?.trim()).toBe('Cancel');

    await buttonNamed(wrapper, 'Buy now').trigger('click');
    await vi.waitFor(() => expect(wrapper.find('.message-success').exists()).toBe(true));

    const post = api.to('POST', '/purchases');
    expect(post).toHaveLength(1);
    expect(post[0].body).toEqual({ userId: 'alice', webtoonId: 'niceguy-1' });
    expect(post[0].headers.get('Idempotency-Key')).toMatch(IDEMPOTENCY_KEY);
    expect(wrapper.find('.message-success').text()).toBe('Purchase approved: you own this episode now. You have 500 points left.');
    expect(wrapper.find('.message-success').element.closest('[role="status"]')).not.toBeNull();
    expect(wrapper.find('[role="dialog"]').exists()).toBe(false);
    expect(wrapper.find('[data-testid="balance"]').text()).toBe('500 points');
    expect(wrapper.find('.badge-owned').text()).toBe('Owned');
    const read = wrapper.find('a[data-action="read"]');
    expect(read.text()).toBe('Read episode');
    expect(read.attributes('href')).toBe('/read/niceguy-1');
    expect(read.element).toBe(document.activeElement);
  });

  it('shows the pending state while the purchase is being decided', async () => {
    signInAs('alice');
    let decide!: () => void;
    const decided = new Promise<void>((r) => (decide = r));
    mockApi(
      routesFor(niceguy, 600, [
        { method: 'POST', path: '/purchases', reply: hal(pending(niceguy), 202) },
        {
          method: 'GET',
          path: '/purchases/b-1',
          reply: async () => {
            await decided;
            return hal({ ...pending(niceguy), status: 'approved', myPoint: 500 });
          },
        },
      ]),
    );
    const { wrapper } = await mountAt(EpisodeView, '/episodes/niceguy-1', { props: { id: 'niceguy-1' } });
    await buttonNamed(wrapper, 'Buy for 100 points').trigger('click');
    await flushPromises();
    await buttonNamed(wrapper, 'Buy now').trigger('click');
    await vi.waitFor(() => expect(wrapper.find('.message-pending').exists()).toBe(true));
    const region = wrapper.find('.message-pending').element.closest('[aria-live]');
    expect(region?.getAttribute('aria-live')).toBe('polite');
    expect(wrapper.find('.message-pending').text()).toBe('Purchase pending: taking 100 points from your balance…');
    decide();
    await vi.waitFor(() => expect(wrapper.find('.message-success').exists()).toBe(true));
    // The same live region now carries the outcome.
    expect(region?.textContent).toContain('Purchase approved');
  });

  it('when rejected, shows the reason in plain words and the unchanged balance', async () => {
    signInAs('alice');
    const api = mockApi(
      routesFor(expensive, 200, [
        { method: 'POST', path: '/purchases', reply: hal(pending(expensive), 202) },
        {
          method: 'GET',
          path: '/purchases/b-1',
          reply: hal({ ...pending(expensive), status: 'rejected', reason: 'not enough points' }),
        },
      ]),
    );
    const { wrapper } = await mountAt(EpisodeView, '/episodes/epic-1', { props: { id: 'epic-1' } });
    await buttonNamed(wrapper, 'Buy for 600 points').trigger('click');
    await flushPromises();

    const dialog = wrapper.find('[role="dialog"]');
    expect(dialog.find('[data-testid="confirm-after"]').text()).toBe('Not enough points');
    expect(dialog.find('.message-warning').text()).toContain('You are 400 points short');

    await buttonNamed(wrapper, 'Buy now').trigger('click');
    await vi.waitFor(() => expect(wrapper.find('.message-error').exists()).toBe(true));

    const alert = wrapper.find('.message-error');
    expect(alert.text()).toBe('Purchase rejected: You do not have enough points. Nothing was taken: your balance is still 200 points.');
    expect(alert.element.closest('[role="alert"]')).not.toBeNull();
    expect(wrapper.find('[data-testid="balance"]').text()).toBe('200 points');
    expect(wrapper.find('.badge-owned').exists()).toBe(false);
    expect(wrapper.find('a[href="/points"]').text()).toBe('Charge points');
    // The balance was read again from the server after the rejection.
    expect(api.to('GET', '/pointers/alice').length).toBeGreaterThanOrEqual(3);
    // The user can still try again later.
    expect(buttonNamed(wrapper, 'Buy for 600 points').attributes('disabled')).toBeUndefined();
  });

  it('shows the problem+json of a refused buy (already owned) in plain words', async () => {
    signInAs('alice');
    mockApi(
      routesFor(niceguy, 600, [
        {
          method: 'POST',
          path: '/purchases',
          reply: problem(409, 'conflict', 'Conflict', "you already own 'niceguy-1'"),
        },
      ]),
    );
    const { wrapper } = await mountAt(EpisodeView, '/episodes/niceguy-1', { props: { id: 'niceguy-1' } });
    await buttonNamed(wrapper, 'Buy for 100 points').trigger('click');
    await flushPromises();
    await buttonNamed(wrapper, 'Buy now').trigger('click');
    await vi.waitFor(() => expect(wrapper.find('.message-error').exists()).toBe(true));
    expect(wrapper.find('.message-error').text()).toBe(
      "Could not buy this episode. Conflict. You already own 'niceguy-1'.",
    );
  });

  it('closes the confirmation with Escape, keeps Tab inside it, and returns focus to the Buy button', async () => {
    signInAs('alice');
    const api = mockApi(routesFor(niceguy, 600));
    const { wrapper } = await mountAt(EpisodeView, '/episodes/niceguy-1', { props: { id: 'niceguy-1' } });
    const buyButton = buttonNamed(wrapper, 'Buy for 100 points');
    (buyButton.element as HTMLElement).focus();
    await buyButton.trigger('click');
    await flushPromises();

    const dialog = wrapper.find('[role="dialog"]');
    const cancel = buttonNamed(wrapper, 'Cancel').element;
    const confirm = buttonNamed(wrapper, 'Buy now').element;
    expect(document.activeElement).toBe(cancel);
    (confirm as HTMLElement).focus();
    await dialog.trigger('keydown', { key: 'Tab' });
    expect(document.activeElement).toBe(cancel);
    await dialog.trigger('keydown', { key: 'Tab', shiftKey: true });
    expect(document.activeElement).toBe(confirm);

    await dialog.trigger('keydown', { key: 'Escape' });
    await flushPromises();
    expect(wrapper.find('[role="dialog"]').exists()).toBe(false);
    expect(document.activeElement).toBe(buyButton.element);
    expect(api.to('POST', '/purchases')).toHaveLength(0);
  });
});

describe('episode page: reading', () => {
  it('offers Read for a free episode, leading to the reader, and nothing to buy', async () => {
    signInAs('alice');
    const api = mockApi(routesFor(sunny, 0));
    const { wrapper } = await mountAt(EpisodeView, '/episodes/sunny-1', { props: { id: 'sunny-1' } });
    expect(wrapper.find('.badge-free').exists()).toBe(true);
    expect(wrapper.findAll('button').some((b) => b.text().startsWith('Buy'))).toBe(false);
    expect(wrapper.find('a[data-action="read"]').attributes('href')).toBe('/read/sunny-1');
    // Reading is the reader's business: this page opens nothing itself.
    expect(api.to('POST', '/webtoons/sunny-1/open')).toHaveLength(0);
  });

  it('reads a paid episode whose wait-until-free time has passed without buying it', async () => {
    signInAs('alice');
    const waited = { ...niceguy, freeFrom: new Date(Date.now() - 60_000).toISOString() };
    mockApi(routesFor(waited, 0));
    const { wrapper } = await mountAt(EpisodeView, '/episodes/niceguy-1', { props: { id: 'niceguy-1' } });
    expect(wrapper.find('.badge-free').text()).toBe('Free');
    expect(wrapper.find('a[data-action="read"]').exists()).toBe(true);
    expect(wrapper.findAll('button').some((b) => b.text().startsWith('Buy'))).toBe(false);
  });

  it('says when an episode becomes free, and still sells it until then', async () => {
    signInAs('alice');
    const later = { ...niceguy, freeFrom: new Date(Date.now() + 2.5 * 86_400_000).toISOString() };
    mockApi(routesFor(later, 600));
    const { wrapper } = await mountAt(EpisodeView, '/episodes/niceguy-1', { props: { id: 'niceguy-1' } });
    expect(wrapper.text()).toContain('Wait until freeFree in 3 days');
    expect(buttonNamed(wrapper, 'Buy for 100 points').exists()).toBe(true);
    expect(wrapper.find('a[data-action="read"]').exists()).toBe(false);
  });
});

describe('episode page: signed out', () => {
  it('shows the episode and asks to sign in to read or buy it', async () => {
    const api = mockApi([{ method: 'GET', path: '/webtoons/niceguy-1', reply: hal(niceguy) }]);
    const { wrapper } = await mountAt(EpisodeView, '/episodes/niceguy-1', { props: { id: 'niceguy-1' } });
    expect(wrapper.find('h1').text()).toBe('Nice Guy, episode 1');
    expect(wrapper.find('.sign-in-prompt p').text()).toBe('To read or buy this episode, please sign in.');
    expect(wrapper.findAll('button').map((b) => b.text())).not.toContain('Buy for 100 points');
    expect(api.calls.map((c) => c.path)).toEqual(['/webtoons/niceguy-1']);
  });
});
