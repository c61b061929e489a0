import { flushPromises } from '@vue/test-utils';
import { describe, expect, it, vi } from 'vitest';
import ReaderView from '../src/views/ReaderView.vue';
import { IDEMPOTENCY_KEY, hal, mockApi, mountAt, problem, signInAs, type Route } from './helpers';

const pages = [1, 2, 3, 4].map((n) => `/webtoons/niceguy-2/pages/${n}?size=reading&v=p${n}&access=x.y&u=alice`);

function opened(extra: Record<string, unknown> = {}) {
  return {
    userId: 'alice',
    webtoonId: 'niceguy-2',
    result: 'approved',
    free: false,
    title: 'Nice Guy',
    episode: 2,
    seriesId: 'niceguy',
    previous: 'niceguy-1',
    next: 'niceguy-3',
    pages,
    ...extra,
  };
}

function routes(openReply = hal(opened()), extra: Route[] = []): Route[] {
  return [
    { method: 'POST', path: '/webtoons/niceguy-2/open', reply: openReply },
    { method: 'PUT', path: '/webtoons/niceguy-2/progress', reply: (c) => hal({ webtoonId: 'niceguy-2', ...(c.body as object) }) },
    ...extra,
  ];
}

async function mountReader() {
  return mountAt(ReaderView, '/read/niceguy-2', { props: { webtoonId: 'niceguy-2' } });
}

/** Lays the strip out as a browser would: each page 1000px tall, the window at `scrollTop`. */
function layOut(wrapper: Awaited<ReturnType<typeof mountReader>>['wrapper'], scrollTop: number) {
  wrapper.findAll('img.reader-image').forEach((img, i) => {
    const top = i * 1000 - scrollTop;
    img.element.getBoundingClientRect = () => ({ top, bottom: top + 1000, height: 1000 }) as DOMRect;
  });
}

describe('reader', () => {
  it('opens the episode and shows its pages in order in one strip, lazily loaded, each named for screen readers', async () => {
    signInAs('alice');
    const api = mockApi(routes());
    const { wrapper } = await mountReader();
    const open = api.to('POST', '/webtoons/niceguy-2/open');
    expect(open).toHaveLength(1);
    expect(open[0].body).toEqual({ userId: 'alice' });
    expect(open[0].headers.get('Idempotency-Key')).toMatch(IDEMPOTENCY_KEY);

    expect(wrapper.find('h1').text()).toBe('Nice Guy, episode 2');
    const imgs = wrapper.findAll('.reader-strip img');
    expect(imgs.map((i) => i.attributes('src'))).toEqual(pages);
    expect(imgs.map((i) => i.attributes('alt'))).toEqual(['Page 1 of 4', 'Page 2 of 4', 'Page 3 of 4', 'Page 4 of 4']);
    expect(imgs.every((i) => i.attributes('loading') === 'lazy')).toBe(true);
    expect(wrapper.find('.reader-strip').attributes('aria-label')).toBe('Pages');

    const links = wrapper.findAll('nav[aria-label="Episodes"] a').map((a) => [a.text(), a.attributes('href')]);
    expect(links).toEqual([
      ['Previous episode', '/read/niceguy-1'],
      ['Next episode', '/read/niceguy-3'],
    ]);
    expect(wrapper.find('.back-link a').attributes('href')).toBe('/series/niceguy');
  });

  it('saves the page most in view once scrolling pauses, and not again for the same page', async () => {
    signInAs('alice');
    const api = mockApi(routes());
    const { wrapper } = await mountReader();
    layOut(wrapper, 1700); // page 2 shows 300px, page 3 700px
    window.dispatchEvent(new Event('scroll'));
    window.dispatchEvent(new Event('scroll'));
    await vi.waitFor(() => expect(api.to('PUT', '/webtoons/niceguy-2/progress')).toHaveLength(1));
    expect(api.to('PUT', '/webtoons/niceguy-2/progress')[0].body).toEqual({ userId: 'alice', page: 3 });

    layOut(wrapper, 1800);
    window.dispatchEvent(new Event('scroll'));
    await new Promise((r) => setTimeout(r, 5));
    await flushPromises();
    expect(api.to('PUT', '/webtoons/niceguy-2/progress')).toHaveLength(1);

    layOut(wrapper, 3000);
    window.dispatchEvent(new Event('scroll'));
    await vi.waitFor(() => expect(api.to('PUT', '/webtoons/niceguy-2/progress')).toHaveLength(2));
    expect(api.to('PUT', '/webtoons/niceguy-2/progress')[1].body).toEqual({ userId: 'alice', page: 4 });
  });

  it('goes back to the page where the reader stopped', async () => {
    signInAs('alice');
    const scrolled: Element[] = [];
    vi.spyOn(Element.prototype, 'scrollIntoView').mockImplementation(function (this: Element) {
      scrolled.push(this);
    });
    mockApi(routes(hal(opened({ progress: { page: 3, updatedAt: '2026-12-01T10:00:00Z' } }))));
    const { wrapper } = await mountReader();
    expect(scrolled.map((e) => e.getAttribute('alt'))).toEqual(['Page 3 of 4']);
    // A page above it arriving (and changing height) takes the reader there again.
    await wrapper.findAll('img.reader-image')[0].trigger('load');
    expect(scrolled.map((e) => e.getAttribute('alt'))).toEqual(['Page 3 of 4', 'Page 3 of 4']);
  });

  it('reads keys: j/k and Space scroll, n/→ and p/← open the next and previous episodes, but not while typing', async () => {
    signInAs('alice');
    const scrollBy = vi.spyOn(window, 'scrollBy');
    mockApi(routes());
    const { router } = await mountReader();
    const press = (key: string, target: EventTarget = window, init: KeyboardEventInit = {}) =>
      target.dispatchEvent(new KeyboardEvent('keydown', { key, bubbles: true, cancelable: true, ...init }));

    press('j');
    press(' ');
    press('k');
    press(' ', window, { shiftKey: true });
    const tops = scrollBy.mock.calls.map((c) => Math.sign((c[0] as ScrollToOptions).top ?? 0));
    expect(tops).toEqual([1, 1, -1, -1]);

    const input = document.createElement('input');
    document.body.appendChild(input);
    press('n', input);
    await flushPromises();
    expect(router.currentRoute.value.fullPath).toBe('/read/niceguy-2');

    press('ArrowRight');
    await flushPromises();
    expect(router.currentRoute.value.fullPath).toBe('/read/niceguy-3');
    press('p');
    await flushPromises();
    expect(router.currentRoute.value.fullPath).toBe('/read/niceguy-1');
  });

  it('explains a refused open (not owned) and offers to buy', async () => {
    signInAs('alice');
    mockApi(routes(problem(403, 'not-owned', 'Episode not owned', "buy 'niceguy-2' to read it")));
    const { wrapper } = await mountReader();
    expect(wrapper.find('.message-error').text()).toBe('You do not own this episode yet, so it cannot be read.');
    expect(wrapper.find('[role="alert"] a').attributes('href')).toBe('/episodes/niceguy-2');
    expect(wrapper.find('.reader-strip').exists()).toBe(false);
  });

  it('asks a visitor to sign in and opens nothing', async () => {
    const api = mockApi(routes());
    const { wrapper } = await mountReader();
    expect(wrapper.find('.sign-in-prompt p').text()).toBe('To read this episode, please sign in.');
    expect(api.calls).toHaveLength(0);
  });
});
