import { describe, expect, it } from 'vitest';
import SeriesView from '../src/views/SeriesView.vue';
import { collection, hal, mockApi, mountAt, problem, signInAs, type Route } from './helpers';

const DAY = 86_400_000;
const series = {
  seriesId: 'niceguy',
  title: 'Nice Guy',
  author: 'Kim',
  synopsis: 'A kind man in a hard city.',
  genres: ['drama', 'slice-of-life'],
  status: 'ongoing',
  episodes: 5,
  freeEpisodes: 2,
  _links: { self: { href: '/series/niceguy' }, cover: { href: '/series/niceguy/cover?v=abc' } },
};
const episode = (n: number, extra: Record<string, unknown> = {}) => ({
  webtoonId: `niceguy-${n}`,
  seriesId: 'niceguy',
  title: `Nice Guy ${n}`,
  author: 'Kim',
  point: 100,
  episode: n,
  status: 'published',
  pages: 3,
  ...extra,
});
const episodes = [
  episode(1, { point: 0 }),
  episode(2, { freeFrom: new Date(Date.now() - DAY).toISOString() }),
  episode(3),
  episode(4, { freeFrom: new Date(Date.now() + 2.2 * DAY).toISOString() }),
  episode(5),
  episode(6, { status: 'hidden' }),
];

function routes(extra: Route[] = []): Route[] {
  return [
    ...extra,
    { method: 'GET', path: '/series/niceguy', reply: hal(series) },
    { method: 'GET', path: '/series/niceguy/episodes', reply: hal(collection('episodes', episodes)) },
  ];
}

type Wrapper = Awaited<ReturnType<typeof mountAt>>['wrapper'];
const row = (w: Wrapper, n: number) => w.find(`[data-webtoon="niceguy-${n}"]`);

describe('series page', () => {
  it('shows the cover, synopsis, genres and status, and each episode with its state and Buy or Read', async () => {
    signInAs('alice');
    mockApi(
      routes([
        {
          method: 'GET',
          path: '/libraries/alice',
          reply: hal({
            userId: 'alice',
            owned: [{ webtoonId: 'niceguy-5', purchaseId: 'b-1', read: true }],
            continueReading: [{ webtoonId: 'niceguy-5', seriesId: 'niceguy', title: 'Nice Guy 5', episode: 5, page: 2, pages: 3 }],
          }),
        },
      ]),
    );
    const { wrapper } = await mountAt(SeriesView, '/series/niceguy', { props: { id: 'niceguy' } });
    expect(wrapper.find('h1').text()).toBe('Nice Guy');
    const cover = wrapper.find('img.cover');
    expect(cover.attributes('src')).toBe('/series/niceguy/cover?v=abc');
    expect(cover.attributes('alt')).toBe('Cover of Nice Guy');
    expect(wrapper.find('.facts').text()).toBe('AuthorKimStatusOngoingGenresDrama, Slice of life');
    expect(wrapper.find('.synopsis').text()).toBe('A kind man in a hard city.');

    const states = [1, 2, 3, 4, 5].map((n) => row(wrapper, n).find('[data-testid="price"]').text());
    expect(states).toEqual(['Free', 'Free', '100 points', '100 points · Free in 3 days', 'Owned']);
    const actions = [1, 2, 3, 4, 5].map((n) => {
      const a = row(wrapper, n).find('a.button');
      return [a.text(), a.attributes('href')];
    });
    expect(actions).toEqual([
      ['Read episode 1', '/read/niceguy-1'],
      ['Read episode 2', '/read/niceguy-2'],
      ['Buy episode 3 for 100 points', '/episodes/niceguy-3'],
      ['Buy episode 4 for 100 points', '/episodes/niceguy-4'],
      ['Continue episode 5', '/read/niceguy-5'],
    ]);
    expect(row(wrapper, 5).text()).toContain('You stopped at page 2 of 3');
    // The episode's title leads to its page (price, balance, buying).
    expect(row(wrapper, 3).find('.entry-title a').attributes('href')).toBe('/episodes/niceguy-3');
    expect(row(wrapper, 3).find('.entry-title a').text()).toBe('Episode 3: Nice Guy 3');
    // Hidden episodes are not offered.
    expect(row(wrapper, 6).exists()).toBe(false);
    expect(wrapper.findAll('.episode-list > li')).toHaveLength(5);
  });

  it('works signed out: free episodes offer Read (the reader asks to sign in), the others Buy', async () => {
    const api = mockApi(routes());
    const { wrapper } = await mountAt(SeriesView, '/series/niceguy', { props: { id: 'niceguy' } });
    expect(api.calls.some((c) => c.path.startsWith('/libraries'))).toBe(false);
    expect(row(wrapper, 1).find('a.button').text()).toBe('Read episode 1');
    expect(row(wrapper, 5).find('a.button').text()).toBe('Buy episode 5 for 100 points');
  });

  it('says plainly when the series does not exist', async () => {
    mockApi([
      { method: 'GET', path: '/series/nope', reply: problem(404, 'not-found', 'Not found', "no series 'nope'") },
      { method: 'GET', path: '/series/nope/episodes', reply: problem(404, 'not-found', 'Not found') },
    ]);
    const { wrapper } = await mountAt(SeriesView, '/series/nope', { props: { id: 'nope' } });
    expect(wrapper.find('h1').text()).toBe('Series not found');
    expect(wrapper.find('[role="alert"]').text()).toBe('There is no series "nope" in the catalog.');
  });

  it('says so when a series has no episodes yet', async () => {
    mockApi([
      { method: 'GET', path: '/series/niceguy', reply: hal({ ...series, episodes: 0 }) },
      { method: 'GET', path: '/series/niceguy/episodes', reply: hal(collection('episodes', [])) },
    ]);
    const { wrapper } = await mountAt(SeriesView, '/series/niceguy', { props: { id: 'niceguy' } });
    expect(wrapper.find('.notice').text()).toBe('No episodes are out yet.');
  });
});
