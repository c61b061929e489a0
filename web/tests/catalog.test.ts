import { flushPromises } from '@vue/test-utils';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import CatalogView from '../src/views/CatalogView.vue';
import { resetOwnershipCache } from '../src/ownership';
import { collection, hal, mockApi, mountAt, problem, signInAs } from './helpers';

const DAY = 86_400_000;
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();

function seriesOf(id: string, title: string, extra: Record<string, unknown> = {}) {
  return {
    seriesId: id,
    title,
    author: 'Kim',
    genres: ['drama'],
    status: 'ongoing',
    episodes: 2,
    freeEpisodes: 0,
    latestEpisodeAt: ago(30 * DAY),
    _links: { self: { href: `/series/${id}` }, episodes: { href: `/series/${id}/episodes` } },
    ...extra,
  };
}

const niceguy = seriesOf('niceguy', 'Nice Guy', {
  freeEpisodes: 1,
  _links: { self: { href: '/series/niceguy' }, thumbnail: { href: '/series/niceguy/cover?size=thumb&v=abc' } },
});
const tower = seriesOf('tower', 'Tower of Dreams', { latestEpisodeAt: ago(DAY) });
const seoul = seriesOf('seoul-night', 'Seoul at Night', { author: 'Park' });

const last = <T>(xs: T[]): T => xs[xs.length - 1];

type Wrapper = Awaited<ReturnType<typeof mountAt>>['wrapper'];
const card = (w: Wrapper, id: string) => w.find(`[data-series="${id}"]`);
const badges = (w: Wrapper, id: string) =>
  card(w, id)
    .findAll('.badge')
    .map((b) => b.text());

beforeEach(resetOwnershipCache);

describe('catalog', () => {
  it('shows series as cards with covers (or a drawn placeholder) and free, owned and new-episode badges', async () => {
    signInAs('alice');
    const api = mockApi([
      { method: 'GET', path: '/series', reply: hal(collection('series', [niceguy, tower, seoul])) },
      {
        method: 'GET',
        path: '/libraries/alice',
        reply: hal({ userId: 'alice', owned: [{ webtoonId: 'seoul-night-1', purchaseId: 'b-1', read: false }] }),
      },
      {
        method: 'GET',
        path: '/webtoons/seoul-night-1',
        reply: hal({ webtoonId: 'seoul-night-1', seriesId: 'seoul-night', title: 'Seoul at Night', author: 'Park', point: 300, episode: 1, status: 'published' }),
      },
    ]);
    const { wrapper } = await mountAt(CatalogView, '/');

    const first = card(wrapper, 'niceguy');
    expect(first.find('h2').text()).toBe('Nice Guy');
    expect(first.text()).toContain('by Kim');
    expect(first.text()).toContain('2 episodes');
    expect(first.find('a').attributes('href')).toBe('/series/niceguy');
    expect(first.find('img.cover').attributes('src')).toBe('/series/niceguy/cover?size=thumb&v=abc');
    expect(first.find('img.cover').attributes('loading')).toBe('lazy');
    // No cover uploaded: a drawn placeholder with the initials, hidden from screen readers (the title is beside it).
    const placeholder = card(wrapper, 'tower').find('[data-testid="cover-placeholder"]');
    expect(placeholder.text()).toBe('TO');
    expect(placeholder.attributes('aria-hidden')).toBe('true');

    expect(badges(wrapper, 'niceguy')).toEqual(['Free episodes']);
    expect(badges(wrapper, 'tower')).toEqual(['New episode']);
    expect(badges(wrapper, 'seoul-night')).toEqual(['Owned']);
    expect(first.attributes('aria-labelledby')).toBe(first.find('h2').attributes('id'));
    expect(api.to('GET', '/series')[0].query.get('sort')).toBe('new');
    expect(api.to('GET', '/series')[0].query.get('page')).toBe('0');
  });

  it('searches as the reader types (once, after a pause) and shows the results', async () => {
    const api = mockApi([
      { method: 'GET', path: '/series?q=nic', reply: hal(collection('series', [niceguy])) },
      { method: 'GET', path: '/series', reply: hal(collection('series', [niceguy, tower, seoul])) },
    ]);
    const { wrapper, router } = await mountAt(CatalogView, '/');
    expect(wrapper.findAll('.series-card')).toHaveLength(3);

    const box = wrapper.find('input[type="search"]');
    expect(wrapper.find(`label[for="${box.attributes('id')}"]`).text()).toBe('Search titles and authors');
    await box.setValue('n');
    await box.setValue('ni');
    await box.setValue('nic');
    await vi.waitFor(() => expect(wrapper.findAll('.series-card')).toHaveLength(1));
    // One request for the pause, not one per keystroke.
    expect(api.to('GET', '/series').map((c) => c.query.get('q'))).toEqual([null, 'nic']);
    expect(card(wrapper, 'niceguy').exists()).toBe(true);
    expect(wrapper.find('[role="status"]').text()).toBe('1 series found');
    // The search is in the address, so Back and a reload keep it.
    expect(router.currentRoute.value.query).toEqual({ q: 'nic' });
  });

  it('sends the genre, status and sort chosen, and starts again at the first page', async () => {
    const paged = { size: 24, totalElements: 30, totalPages: 2, number: 0 };
    const api = mockApi([{ method: 'GET', path: '/series', reply: hal(collection('series', [niceguy, tower], paged)) }]);
    const { wrapper } = await mountAt(CatalogView, '/');
    await wrapper.findAll('.pager button').find((b) => b.text() === 'Next page')!.trigger('click');
    await flushPromises();
    expect(last(api.calls).query.get('page')).toBe('1');

    await wrapper.find('#catalog-genre').setValue('romance');
    await flushPromises();
    let q = last(api.calls).query;
    expect([q.get('genre'), q.get('page')]).toEqual(['romance', '0']);

    await wrapper.find('#catalog-status').setValue('completed');
    await wrapper.find('#catalog-sort').setValue('popular');
    await flushPromises();
    q = last(api.calls).query;
    expect([q.get('genre'), q.get('status'), q.get('sort')]).toEqual(['romance', 'completed', 'popular']);
    expect(wrapper.find('#catalog-genre option[value="sci-fi"]').text()).toBe('Sci-fi');
  });

  it('says when nothing matches and clears the search with one button', async () => {
    const api = mockApi([
      { method: 'GET', path: '/series?q=zzz', reply: hal(collection('series', [])) },
      { method: 'GET', path: '/series', reply: hal(collection('series', [niceguy])) },
    ]);
    const { wrapper } = await mountAt(CatalogView, '/?q=zzz');
    expect((wrapper.find('input[type="search"]').element as HTMLInputElement).value).toBe('zzz');
    expect(wrapper.find('.notice p').text()).toBe('No series match your search.');
    await wrapper.findAll('button').find((b) => b.text() === 'Clear the search and filters')!.trigger('click');
    await flushPromises();
    expect(last(api.calls).query.get('q')).toBeNull();
    expect(wrapper.findAll('.series-card')).toHaveLength(1);
  });

  it('asks nobody for a library when signed out, shows no owned badges, and offers sign-in', async () => {
    const api = mockApi([{ method: 'GET', path: '/series', reply: hal(collection('series', [niceguy, seoul])) }]);
    const { wrapper } = await mountAt(CatalogView, '/');
    expect(api.calls.some((c) => c.path.startsWith('/libraries'))).toBe(false);
    expect(wrapper.findAll('.badge-owned')).toHaveLength(0);
    expect(wrapper.find('.notice').text()).toBe('Sign in or sign up to buy episodes and see which ones you own.');
  });

  it('still shows the catalog when the library cannot be read, and says why in plain words', async () => {
    signInAs('alice');
    mockApi([
      { method: 'GET', path: '/series', reply: hal(collection('series', [niceguy, tower, seoul])) },
      {
        method: 'GET',
        path: '/libraries/alice',
        reply: problem(503, 'unavailable', 'Service unavailable', 'The webtoon service is starting'),
      },
    ]);
    const { wrapper } = await mountAt(CatalogView, '/');
    expect(wrapper.findAll('.series-card')).toHaveLength(3);
    expect(wrapper.find('[role="alert"] .message-error').text()).toBe(
      'Could not tell which series you own. Service unavailable. The webtoon service is starting.',
    );
  });
});
