import { describe, expect, it } from 'vitest';
import CatalogView from '../src/views/CatalogView.vue';
import { collection, hal, mockApi, mountAt, problem, signInAs } from './helpers';

const webtoons = [
  { webtoonId: 'niceguy-1', title: 'Nice Guy', author: 'Kim', point: 100, episode: 1, status: 'published' },
  { webtoonId: 'niceguy-2', title: 'Nice Guy', author: 'Kim', point: 100, episode: 2, status: 'published' },
  { webtoonId: 'sunny-1', title: 'Sunny Days', author: 'Lee', point: 0, episode: 1, status: 'published' },
  { webtoonId: 'secret-1', title: 'Secret', author: 'Park', point: 50, episode: 1, status: 'hidden' },
];

function card(wrapper: Awaited<ReturnType<typeof mountAt>>['wrapper'], id: string) {
  return wrapper.find(`[data-webtoon="${id}"]`);
}

function badges(wrapper: Awaited<ReturnType<typeof mountAt>>['wrapper'], id: string): string[] {
  return card(wrapper, id)
    .findAll('.badge')
    .map((b) => b.text());
}

describe('catalog', () => {
  it('shows each published episode with title, author, episode and price, and owned and free badges', async () => {
    signInAs('alice');
    const api = mockApi([
      { method: 'GET', path: '/webtoons', reply: hal(collection('webtoons', webtoons)) },
      {
        method: 'GET',
        path: '/libraries/alice',
        reply: hal({ userId: 'alice', owned: [{ webtoonId: 'niceguy-1', purchaseId: 'b-1', read: false }] }),
      },
    ]);
    const { wrapper } = await mountAt(CatalogView, '/');

    const first = card(wrapper, 'niceguy-1');
    expect(first.find('h2').text()).toBe('Nice Guy');
    expect(first.text()).toContain('by Kim');
    expect(first.text()).toContain('Episode 1');
    expect(first.find('.card-price').text()).toBe('Price: 100 points');
    expect(first.find('a').attributes('href')).toBe('/episodes/niceguy-1');

    expect(badges(wrapper, 'niceguy-1')).toEqual(['Owned']);
    expect(badges(wrapper, 'niceguy-2')).toEqual([]);
    expect(badges(wrapper, 'sunny-1')).toEqual(['Free']);
    expect(card(wrapper, 'sunny-1').find('.card-price').text()).toBe('Price: Free');
    // Hidden episodes are not offered to readers.
    expect(card(wrapper, 'secret-1').exists()).toBe(false);
    // Each card is named by its heading for assistive technology.
    expect(first.attributes('aria-labelledby')).toBe(first.find('h2').attributes('id'));
    expect(api.to('GET', '/webtoons')[0].query.get('page')).toBe('0');
  });

  it('asks nobody for a library when signed out, shows no owned badges, and offers sign-in', async () => {
    const api = mockApi([{ method: 'GET', path: '/webtoons', reply: hal(collection('webtoons', webtoons)) }]);
    const { wrapper } = await mountAt(CatalogView, '/');
    expect(api.calls.some((c) => c.path.startsWith('/libraries'))).toBe(false);
    expect(wrapper.findAll('.badge-owned')).toHaveLength(0);
    expect(badges(wrapper, 'sunny-1')).toEqual(['Free']);
    expect(wrapper.find('.notice').text()).toBe('Sign in or sign up to buy episodes and see which ones you own.');
    expect(wrapper.findAll('.notice button').map((b) => b.text())).toEqual(['Sign in', 'sign up']);
  });

  it('still shows the catalog when the library cannot be read, and says why in plain words', async () => {
    signInAs('alice');
    mockApi([
      { method: 'GET', path: '/webtoons', reply: hal(collection('webtoons', webtoons)) },
      {
        method: 'GET',
        path: '/libraries/alice',
        reply: problem(503, 'unavailable', 'Service unavailable', 'The webtoon service is starting'),
      },
    ]);
    const { wrapper } = await mountAt(CatalogView, '/');
    expect(wrapper.findAll('.card')).toHaveLength(3);
    expect(wrapper.find('[role="alert"] .message-error').text()).toBe(
      'Could not tell which episodes you own. Service unavailable. The webtoon service is starting.',
    );
  });
});
