import { describe, expect, it } from 'vitest';
import LibraryView from '../src/views/LibraryView.vue';
import { hal, mockApi, mountAt, signInAs } from './helpers';

describe('my library', () => {
  it('shows Continue reading (newest first, at the page where the reader stopped) and the owned episodes', async () => {
    signInAs('alice');
    mockApi([
      {
        method: 'GET',
        path: '/libraries/alice',
        reply: hal({
          userId: 'alice',
          owned: [
            { webtoonId: 'niceguy-2', purchaseId: 'b-1', read: true },
            { webtoonId: 'tower-2', purchaseId: 'b-2', read: false },
          ],
          continueReading: [
            { webtoonId: 'niceguy-2', seriesId: 'niceguy', title: 'Nice Guy', episode: 2, page: 3, pages: 4 },
            { webtoonId: 'tower-1', seriesId: 'tower', title: 'Tower of Dreams', episode: 1, page: 1, pages: 5 },
          ],
        }),
      },
      {
        method: 'GET',
        path: '/webtoons/tower-2',
        reply: hal({ webtoonId: 'tower-2', title: 'Tower of Dreams', author: 'Cho', point: 600, episode: 2, status: 'published' }),
      },
    ]);
    const { wrapper } = await mountAt(LibraryView, '/library');
    const items = wrapper.findAll('.continue-item');
    expect(items.map((i) => i.find('a').text())).toEqual(['Nice Guy, episode 2 Page 3 of 4', 'Tower of Dreams, episode 1 Page 1 of 5']);
    expect(items[0].find('a').attributes('href')).toBe('/read/niceguy-2');
    expect(items[0].find('progress').attributes('aria-label')).toBe('Read 3 of 4 pages');

    const owned = wrapper.find('section[aria-labelledby="owned-title"]').findAll('li');
    expect(owned.map((li) => li.find('.entry-title').text())).toEqual(['Nice Guy, episode 2', 'Tower of Dreams, episode 2']);
    expect(owned[1].find('a').attributes('href')).toBe('/read/tower-2');
    expect(owned[1].find('a').text()).toBe('Read Tower of Dreams, episode 2');
  });

  it('says where reading will show up when nothing is started or owned yet', async () => {
    signInAs('alice');
    mockApi([{ method: 'GET', path: '/libraries/alice', reply: hal({ userId: 'alice', owned: [] }) }]);
    const { wrapper } = await mountAt(LibraryView, '/library');
    expect(wrapper.text()).toContain('Episodes you start reading show up here.');
    expect(wrapper.text()).toContain('You do not own any episodes yet.');
  });

  it('asks a visitor to sign in', async () => {
    const api = mockApi([]);
    const { wrapper } = await mountAt(LibraryView, '/library');
    expect(wrapper.find('.sign-in-prompt p').text()).toBe('To see your library, please sign in.');
    expect(api.calls).toHaveLength(0);
  });
});
