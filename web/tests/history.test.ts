import { describe, expect, it, vi } from 'vitest';
import HistoryView from '../src/views/HistoryView.vue';
import { apiConfig } from '../src/api';
import { hal, mockApi, mountAt, signInAs } from './helpers';

const joined = { entryId: 'e-1', kind: 'account', refId: 'alice', status: 'joined', occurredAt: '2025-01-01T10:00:00Z' };
const paid = { entryId: 'e-2', kind: 'payment', refId: 'p-1', point: 600, price: 60000, status: 'approved', occurredAt: '2025-01-01T10:01:00Z' };
const buying = { entryId: 'e-3', kind: 'purchase', refId: 'b-1', webtoonId: 'niceguy-1', point: 100, status: 'pending', occurredAt: '2025-01-01T10:02:00Z' };

function summary(myPoint: number, timeline: object[]) {
  return { userId: 'alice', status: 'joined', myPoint, _embedded: { timeline }, _links: { self: { href: '/histories/alice' } } };
}

describe('my history', () => {
  it('shows the summary and the timeline, and updates a pending purchase in place without a reload', async () => {
    signInAs('alice');
    const api = mockApi([
      {
        method: 'GET',
        path: '/histories/alice',
        reply: [
          hal(summary(600, [buying, paid, joined])),
          hal(summary(600, [buying, paid, joined])),
          hal(summary(500, [{ ...buying, status: 'approved' }, paid, joined])),
        ],
      },
    ]);
    const { wrapper } = await mountAt(HistoryView, '/history');

    expect(wrapper.find('[data-testid="summary-points"]').text()).toBe('600 points');
    expect(wrapper.find('[data-testid="summary-status"]').text()).toBe('Joined');
    const items = wrapper.findAll('.timeline > li');
    expect(items.map((li) => li.find('.entry-title').text())).toEqual([
      'Purchase: niceguy-1 for 100 points',
      'Charge: 600 points for 60,000',
      'Account created',
    ]);
    expect(wrapper.find('[data-testid="status-e-3"]').text()).toBe('Pending');
    expect(wrapper.text()).toContain('this list updates by itself');
    const purchaseRow = wrapper.find('[data-entry="e-3"]').element;

    await vi.waitFor(() => expect(wrapper.find('[data-testid="status-e-3"]').text()).toBe('Approved'));
    // Same element, updated in place; the summary follows.
    expect(wrapper.find('[data-entry="e-3"]').element).toBe(purchaseRow);
    expect(wrapper.find('[data-testid="summary-points"]').text()).toBe('500 points');
    const announcer = wrapper.find('[data-testid="history-announcer"]');
    expect(announcer.attributes('aria-live')).toBe('polite');
    expect(announcer.text()).toBe('Purchase of niceguy-1: approved.');

    // Nothing is pending any more: polling stops.
    const reads = api.to('GET', '/histories/alice').length;
    expect(reads).toBe(3);
    await new Promise((r) => setTimeout(r, apiConfig.historyPollMs * 6));
    expect(api.to('GET', '/histories/alice')).toHaveLength(reads);
    expect(wrapper.text()).not.toContain('this list updates by itself');
  });

  it('shows a rejected purchase with its reason in plain words', async () => {
    signInAs('alice');
    mockApi([
      {
        method: 'GET',
        path: '/histories/alice',
        reply: [
          hal(summary(200, [{ ...buying, point: 600 }, joined])),
          hal(summary(200, [{ ...buying, point: 600, status: 'rejected', reason: 'insufficient-points' }, joined])),
        ],
      },
    ]);
    const { wrapper } = await mountAt(HistoryView, '/history');
    await vi.waitFor(() => expect(wrapper.find('[data-testid="status-e-3"]').text()).toBe('Rejected'));
    expect(wrapper.find('[data-entry="e-3"]').text()).toContain('Reason: You do not have enough points');
    expect(wrapper.find('[data-testid="summary-points"]').text()).toBe('200 points');
    expect(wrapper.find('[data-testid="history-announcer"]').text()).toBe('Purchase of niceguy-1: rejected.');
  });

  it('stops polling when the screen is left', async () => {
    signInAs('alice');
    const api = mockApi([{ method: 'GET', path: '/histories/alice', reply: hal(summary(600, [buying, joined])) }]);
    const { wrapper } = await mountAt(HistoryView, '/history');
    await vi.waitFor(() => expect(api.to('GET', '/histories/alice').length).toBeGreaterThanOrEqual(2));
    wrapper.unmount();
    const reads = api.calls.length;
    await new Promise((r) => setTimeout(r, apiConfig.historyPollMs * 6));
    expect(api.calls).toHaveLength(reads);
  });

  it('gives up polling after the cap', async () => {
    signInAs('alice');
    apiConfig.historyPollMax = 3;
    apiConfig.historyPollMs = 1;
    const api = mockApi([{ method: 'GET', path: '/histories/alice', reply: hal(summary(600, [buying])) }]);
    await mountAt(HistoryView, '/history');
    const historyReads = () => api.to('GET', '/histories/alice');
    await vi.waitFor(() => expect(historyReads()).toHaveLength(4));
    await new Promise((r) => setTimeout(r, 20));
    expect(historyReads()).toHaveLength(4);
  });

  it('names episodes by title and episode number, looked up once each', async () => {
    signInAs('alice');
    const read = { entryId: 'e-4', kind: 'read', refId: 'r-1', webtoonId: 'niceguy-1', status: 'approved', occurredAt: '2025-01-01T10:03:00Z' };
    const rejected = { ...buying, entryId: 'e-5', webtoonId: 'tower-2', point: 600, status: 'rejected', reason: 'insufficient-points' };
    const api = mockApi([
      { method: 'GET', path: '/histories/alice', reply: hal(summary(500, [read, rejected, { ...buying, status: 'approved' }, paid, joined])) },
      { method: 'GET', path: '/webtoons/niceguy-1', reply: hal({ webtoonId: 'niceguy-1', title: 'Nice Guy', author: 'Kim', point: 100, episode: 1, status: 'published' }) },
      { method: 'GET', path: '/webtoons/tower-2', reply: hal({ webtoonId: 'tower-2', title: 'Tower of Dreams', author: 'Han', point: 600, episode: 2, status: 'published' }) },
    ]);
    const { wrapper } = await mountAt(HistoryView, '/history');
    await vi.waitFor(() =>
      expect(wrapper.findAll('.timeline > li').map((li) => li.find('.entry-title').text())).toEqual([
        'Read: Nice Guy, episode 1',
        'Purchase: Tower of Dreams, episode 2 for 600 points',
        'Purchase: Nice Guy, episode 1 for 100 points',
        'Charge: 600 points for 60,000',
        'Account created',
      ]),
    );
    expect(api.to('GET', '/webtoons/niceguy-1')).toHaveLength(1);
    expect(api.to('GET', '/webtoons/tower-2')).toHaveLength(1);
  });
});
