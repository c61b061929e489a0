import { flushPromises } from '@vue/test-utils';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import AdminView from '../src/views/AdminView.vue';
import { FakeResponse, IDEMPOTENCY_KEY, collection, hal, mockApi, mountAt, problem, signInAs, type Call, type Route } from './helpers';

const niceguy = { webtoonId: 'niceguy-1', title: 'Nice Guy', author: 'Kim', point: 100, episode: 1, status: 'published' };

async function mountAdmin(extra: Route[] = []) {
  signInAs('root', ['admin', 'reader']);
  const api = mockApi([
    ...extra,
    { method: 'GET', path: '/webtoons', reply: hal(collection('webtoons', [niceguy])) },
    { method: 'GET', path: '/series', reply: hal(collection('series', [])) },
  ]);
  const { wrapper } = await mountAt(AdminView, '/admin');
  return { api, wrapper };
}

async function fillUpload(wrapper: Awaited<ReturnType<typeof mountAdmin>>['wrapper'], values: Record<string, string>) {
  for (const [field, value] of Object.entries(values)) await wrapper.find(`#upload-${field}`).setValue(value);
}

type Wrapper = Awaited<ReturnType<typeof mountAdmin>>['wrapper'];
const formOf = (w: Wrapper, field: string) => w.findAll('form').find((f) => f.find(field).exists())!;
const uploadForm = (w: Wrapper) => formOf(w, '#upload-webtoonId');
const editForm = (w: Wrapper) => formOf(w, '#edit-title');

describe('admin: upload form validation', () => {
  it('lists every missing field, marks them invalid, focuses the first, and sends nothing', async () => {
    const { api, wrapper } = await mountAdmin();
    await uploadForm(wrapper).trigger('submit');
    await flushPromises();
    const summary = wrapper.find('[data-testid="upload-errors"]');
    expect(summary.attributes('role')).toBe('alert');
    expect(summary.findAll('li').map((li) => li.text())).toEqual([
      'Episode id: Enter an episode id.',
      'Title: Enter a title.',
      'Author: Enter an author.',
      'Price in points: Enter the price in points.',
      'Episode number: Enter the episode number.',
    ]);
    for (const f of ['webtoonId', 'title', 'author', 'point', 'episode']) {
      const input = wrapper.find(`#upload-${f}`);
      expect(input.attributes('aria-invalid')).toBe('true');
      expect(input.attributes('aria-describedby')).toContain(`upload-${f}-error`);
    }
    expect(document.activeElement).toBe(wrapper.find('#upload-webtoonId').element);
    expect(api.to('POST', '/webtoons')).toHaveLength(0);
  });

  it.each([
    ['webtoonId', 'nice guy/1', 'An episode id may only use letters, digits, dot, dash, underscore or colon.'],
    ['webtoonId', 'x'.repeat(65), 'An episode id must be at most 64 characters.'],
    ['title', 't'.repeat(201), 'A title must be at most 200 characters.'],
    ['author', 'a'.repeat(101), 'An author must be at most 100 characters.'],
    ['point', '-1', 'The price in points must be a whole number.'],
    ['point', '100001', 'The price in points must be between 0 and 100,000.'],
    ['episode', '0', 'The episode number must be between 1 and 100,000.'],
    ['episode', '100001', 'The episode number must be between 1 and 100,000.'],
    ['episode', '2.5', 'The episode number must be a whole number.'],
  ])('rejects %s = %j', async (field, value, message) => {
    const { api, wrapper } = await mountAdmin();
    await fillUpload(wrapper, { webtoonId: 'sunny-1', title: 'Sunny', author: 'Lee', point: '0', episode: '1', [field]: value });
    await uploadForm(wrapper).trigger('submit');
    await flushPromises();
    expect(wrapper.find(`#upload-${field}-error`).text()).toBe(message);
    expect(wrapper.findAll('.field-error')).toHaveLength(1);
    expect(document.activeElement).toBe(wrapper.find(`#upload-${field}`).element);
    expect(api.to('POST', '/webtoons')).toHaveLength(0);
  });

  it('uploads a valid episode with numbers as numbers, a key, and a fresh form afterwards', async () => {
    const created = { webtoonId: 'sunny-1', title: 'Sunny Days', author: 'Lee', point: 0, episode: 1, status: 'hidden' };
    const { api, wrapper } = await mountAdmin([{ method: 'POST', path: '/webtoons', reply: hal(created, 201) }]);
    await fillUpload(wrapper, { webtoonId: ' sunny-1 ', title: 'Sunny Days', author: 'Lee', point: '0', episode: '1' });
    await wrapper.find('input[name="upload-status"][value="hidden"]').setValue(true);
    await uploadForm(wrapper).trigger('submit');
    await vi.waitFor(() => expect(wrapper.find('.message-success').exists()).toBe(true));
    const post = api.to('POST', '/webtoons');
    expect(post).toHaveLength(1);
    expect(post[0].body).toEqual(created);
    expect(post[0].headers.get('Idempotency-Key')).toMatch(IDEMPOTENCY_KEY);
    expect(wrapper.find('.message-success').text()).toBe('Uploaded "Sunny Days" episode 1 (sunny-1).');
    expect((wrapper.find('#upload-webtoonId').element as HTMLInputElement).value).toBe('');
  });

  it('counts characters as people do: 200 emoji make a valid title, 201 do not', async () => {
    const { wrapper } = await mountAdmin();
    await fillUpload(wrapper, { webtoonId: 'e-1', title: '😀'.repeat(200), author: 'Lee', point: '0', episode: '1' });
    await wrapper.find('#upload-point').setValue('x');
    await uploadForm(wrapper).trigger('submit');
    expect(wrapper.find('#upload-title-error').exists()).toBe(false);
    await wrapper.find('#upload-title').setValue('😀'.repeat(201));
    await uploadForm(wrapper).trigger('submit');
    expect(wrapper.find('#upload-title-error').text()).toBe('A title must be at most 200 characters.');
  });

  it('explains a duplicate id from the problem+json body', async () => {
    const { wrapper } = await mountAdmin([
      { method: 'POST', path: '/webtoons', reply: problem(409, 'already-exists', 'Already exists', 'Webtoon niceguy-1 already exists') },
    ]);
    await fillUpload(wrapper, { webtoonId: 'niceguy-1', title: 'Nice Guy', author: 'Kim', point: '100', episode: '1' });
    await uploadForm(wrapper).trigger('submit');
    await vi.waitFor(() => expect(wrapper.find('.message-error').exists()).toBe(true));
    expect(wrapper.find('.message-error').text()).toBe('Could not upload. Already exists. Webtoon niceguy-1 already exists.');
  });
});

describe('admin: update form', () => {
  it('sends only the changed fields with PATCH', async () => {
    const { api, wrapper } = await mountAdmin([
      { method: 'PATCH', path: '/webtoons/niceguy-1', reply: (c) => hal({ ...niceguy, ...(c.body as object) }) },
    ]);
    await wrapper.find('#edit-select').setValue('niceguy-1');
    expect((wrapper.find('#edit-title').element as HTMLInputElement).value).toBe('Nice Guy');
    expect(wrapper.find('#edit-webtoonId').exists()).toBe(false);
    await wrapper.find('#edit-point').setValue('150');
    await wrapper.find('input[name="edit-status"][value="hidden"]').setValue(true);
    await editForm(wrapper).trigger('submit');
    await vi.waitFor(() => expect(wrapper.find('.message-success').exists()).toBe(true));
    expect(api.to('PATCH', '/webtoons/niceguy-1')[0].body).toEqual({ point: 150, status: 'hidden' });
    expect(wrapper.find('.message-success').text()).toBe('Saved "Nice Guy" episode 1 (niceguy-1).');
  });

  it('validates edits too, and sends nothing when nothing changed', async () => {
    const { api, wrapper } = await mountAdmin();
    await wrapper.find('#edit-select').setValue('niceguy-1');
    await wrapper.find('#edit-title').setValue('  ');
    await editForm(wrapper).trigger('submit');
    await flushPromises();
    expect(wrapper.find('#edit-title-error').text()).toBe('Enter a title.');
    await wrapper.find('#edit-title').setValue('Nice Guy');
    await editForm(wrapper).trigger('submit');
    await flushPromises();
    expect(wrapper.text()).toContain('Nothing to save: no field changed.');
    expect(api.to('PATCH', '/webtoons/niceguy-1')).toHaveLength(0);
  });
});

const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const imageFile = (name: string, type: string, extra: number) => new File([new Uint8Array([...PNG, extra])], name, { type });

/** The bytes of a Blob sent as a body (FileReader: jsdom's Blob has no arrayBuffer everywhere). */
function bytesOf(body: unknown): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(Array.from(new Uint8Array(reader.result as ArrayBuffer)));
    reader.onerror = () => reject(reader.error);
    reader.readAsArrayBuffer(body as Blob);
  });
}

function chooseFiles(input: { element: Element }, files: File[]): void {
  Object.defineProperty(input.element, 'files', { value: files, configurable: true });
}

const series = { seriesId: 'niceguy', title: 'Nice Guy', author: 'Kim', genres: [], status: 'ongoing', episodes: 1, freeEpisodes: 0 };

describe('admin: series and covers', () => {
  it('creates a series with its genres and status', async () => {
    const { api, wrapper } = await mountAdmin([
      { method: 'POST', path: '/series', reply: (c) => hal({ ...series, ...(c.body as object) }, 201) },
    ]);
    await wrapper.find('#series-seriesId').setValue('moonlit');
    await wrapper.find('#series-title').setValue('Moonlit Garden');
    await wrapper.find('#series-author').setValue('Lee');
    await wrapper.find('#series-synopsis').setValue('Flowers that bloom at night.');
    await wrapper.find('#series-genres input[value="fantasy"]').setValue(true);
    await wrapper.find('#series-genres input[value="romance"]').setValue(true);
    await wrapper.find('input[name="series-status"][value="completed"]').setValue(true);
    await formOf(wrapper, '#series-title').trigger('submit');
    await flushPromises();
    const post = api.to('POST', '/series');
    expect(post).toHaveLength(1);
    expect(post[0].body).toEqual({
      seriesId: 'moonlit',
      title: 'Moonlit Garden',
      author: 'Lee',
      synopsis: 'Flowers that bloom at night.',
      genres: ['fantasy', 'romance'],
      status: 'completed',
    });
    expect(post[0].headers.get('Idempotency-Key')).toMatch(IDEMPOTENCY_KEY);
    expect(wrapper.text()).toContain('Created the series "Moonlit Garden" (moonlit).');
  });

  it('uploads a cover as the file bytes with the file type as Content-Type', async () => {
    const { api, wrapper } = await mountAdmin([
      { method: 'GET', path: '/series', reply: hal(collection('series', [series])) },
      { method: 'PUT', path: '/series/niceguy/cover', reply: hal(series) },
    ]);
    await wrapper.find('#cover-series').setValue('niceguy');
    chooseFiles(wrapper.find('#cover-file'), [imageFile('cover.png', 'image/png', 7)]);
    await formOf(wrapper, '#cover-file').trigger('submit');
    await flushPromises();
    const put = api.to('PUT', '/series/niceguy/cover');
    expect(put).toHaveLength(1);
    expect(put[0].headers.get('Content-Type')).toBe('image/png');
    expect(await bytesOf(put[0].rawBody)).toEqual([...PNG, 7]);
    expect(wrapper.text()).toContain('Uploaded the cover of "Nice Guy".');
  });

  it('refuses a file that is not an image before sending it', async () => {
    const { api, wrapper } = await mountAdmin([{ method: 'GET', path: '/series', reply: hal(collection('series', [series])) }]);
    await wrapper.find('#cover-series').setValue('niceguy');
    chooseFiles(wrapper.find('#cover-file'), [new File(['hello'], 'notes.txt', { type: 'text/plain' })]);
    await formOf(wrapper, '#cover-file').trigger('submit');
    await flushPromises();
    expect(wrapper.find('[role="alert"] .message-error').text()).toBe('notes.txt is not a PNG, JPEG or WebP image.');
    expect(api.calls.filter((c) => c.method === 'PUT')).toHaveLength(0);
  });
});

describe('admin: pages of an episode', () => {
  const withPages = { ...niceguy, pages: 3 };

  async function mountPages(extra: Route[] = []) {
    signInAs('root', ['admin', 'reader']);
    const api = mockApi([
      ...extra,
      { method: 'GET', path: '/webtoons', reply: hal(collection('webtoons', [withPages])) },
      { method: 'GET', path: '/series', reply: hal(collection('series', [])) },
    ]);
    const { wrapper } = await mountAt(AdminView, '/admin');
    await wrapper.find('#pages-select').setValue('niceguy-1');
    await flushPromises();
    return { api, wrapper };
  }

  const pageNames = (w: Wrapper) => w.findAll('.page-item .page-name').map((p) => p.text());
  const button = (w: Wrapper, label: string) => w.find(`button[aria-label="${label}"]`);

  it('adds several files as pages, in the order chosen, each as its bytes and type', async () => {
    let n = 3;
    const { api, wrapper } = await mountPages([
      {
        method: 'POST',
        path: '/webtoons/niceguy-1/pages',
        reply: () => hal({ webtoonId: 'niceguy-1', number: ++n, width: 800, height: 1200 }, 201),
      },
    ]);
    chooseFiles(wrapper.find('#pages-files'), [imageFile('a.png', 'image/png', 1), imageFile('b.webp', 'image/webp', 2)]);
    await wrapper.findAll('button').find((b) => b.text() === 'Add pages')!.trigger('click');
    await vi.waitFor(() => expect(wrapper.text()).toContain('Added 2 pages. The episode has 5 now.'));
    const posts = api.to('POST', '/webtoons/niceguy-1/pages');
    expect(posts.map((p) => p.headers.get('Content-Type'))).toEqual(['image/png', 'image/webp']);
    expect(await Promise.all(posts.map((p) => bytesOf(p.rawBody)))).toEqual([
      [...PNG, 1],
      [...PNG, 2],
    ]);
    expect(new Set(posts.map((p) => p.headers.get('Idempotency-Key'))).size).toBe(2);
    expect(pageNames(wrapper)).toEqual(['Page 1', 'Page 2', 'Page 3', 'Page 4', 'Page 5']);
  });

  it('reorders with Move up / Move down (focus follows the page) and saves the permutation', async () => {
    const { api, wrapper } = await mountPages([
      { method: 'PUT', path: '/webtoons/niceguy-1/pages', reply: hal({ webtoonId: 'niceguy-1', pages: [] }) },
    ]);
    expect(pageNames(wrapper)).toEqual(['Page 1', 'Page 2', 'Page 3']);
    expect(button(wrapper, 'Move page 1 up').attributes('disabled')).toBeDefined();

    await button(wrapper, 'Move page 3 up').trigger('click');
    await flushPromises();
    expect(document.activeElement).toBe(button(wrapper, 'Move page 3 up').element);
    await button(wrapper, 'Move page 3 up').trigger('click');
    await flushPromises();
    // At the top, "up" is disabled: focus goes to the page's other move button.
    expect(document.activeElement).toBe(button(wrapper, 'Move page 3 down').element);
    expect(pageNames(wrapper)).toEqual(['Page 3 (to become page 1)', 'Page 1 (to become page 2)', 'Page 2 (to become page 3)']);
    // Deleting waits until the new order is saved or undone.
    expect(button(wrapper, 'Delete page 1').attributes('disabled')).toBeDefined();

    await wrapper.findAll('button').find((b) => b.text() === 'Save page order')!.trigger('click');
    await flushPromises();
    const put = api.to('PUT', '/webtoons/niceguy-1/pages');
    expect(put).toHaveLength(1);
    expect(put[0].body).toEqual({ order: [3, 1, 2] });
    expect(wrapper.text()).toContain('Saved the new page order.');
    expect(pageNames(wrapper)).toEqual(['Page 1', 'Page 2', 'Page 3']);
  });

  it('shows thumbnails read with the admin token, and they follow their pages when reordered or deleted', async () => {
    let made = 0;
    // jsdom has no object URLs: a name per image is enough to follow them.
    Object.assign(URL, { createObjectURL: () => `blob:thumb-${++made}`, revokeObjectURL: () => {} });
    onTestFinished(() => {
      delete (URL as { createObjectURL?: unknown }).createObjectURL;
      delete (URL as { revokeObjectURL?: unknown }).revokeObjectURL;
    });
    const thumb = (c: Call) => new FakeResponse(200, `image of page ${c.path.split('/').pop()}`, { 'Content-Type': 'image/webp' });
    const { api, wrapper } = await mountPages([
      { method: 'GET', path: /^\/webtoons\/niceguy-1\/pages\/\d\?size=thumb$/, reply: thumb },
      { method: 'PUT', path: '/webtoons/niceguy-1/pages', reply: hal({ webtoonId: 'niceguy-1', pages: [] }) },
      { method: 'DELETE', path: '/webtoons/niceguy-1/pages/1', reply: hal({ webtoonId: 'niceguy-1', pages: [] }) },
    ]);
    await flushPromises();
    const reads = api.calls.filter((c) => c.path.includes('/pages/') && c.method === 'GET');
    expect(reads.map((c) => c.headers.get('Authorization'))).toEqual(Array(3).fill(expect.stringMatching(/^Bearer /)));
    const srcOf = () => Object.fromEntries(wrapper.findAll('.page-thumb').map((i) => [i.attributes('alt'), i.attributes('src')]));
    const first = srcOf();
    expect(Object.keys(first)).toEqual(['Page 1', 'Page 2', 'Page 3']);

    await button(wrapper, 'Move page 3 up').trigger('click');
    await wrapper.findAll('button').find((b) => b.text() === 'Save page order')!.trigger('click');
    await flushPromises();
    // The old page 3 is page 2 now, with its own picture; nothing is read again.
    expect(srcOf()).toEqual({ 'Page 1': first['Page 1'], 'Page 2': first['Page 3'], 'Page 3': first['Page 2'] });

    await button(wrapper, 'Delete page 1').trigger('click');
    await flushPromises();
    expect(srcOf()).toEqual({ 'Page 1': first['Page 3'], 'Page 2': first['Page 2'] });
    expect(api.calls.filter((c) => c.path.includes('/pages/') && c.method === 'GET')).toHaveLength(3);
  });

  it('deletes a page; the later ones move up', async () => {
    const { api, wrapper } = await mountPages([
      { method: 'DELETE', path: '/webtoons/niceguy-1/pages/2', reply: new FakeResponse(204, '', {}) },
    ]);
    await button(wrapper, 'Delete page 2').trigger('click');
    await flushPromises();
    expect(api.to('DELETE', '/webtoons/niceguy-1/pages/2')).toHaveLength(1);
    expect(pageNames(wrapper)).toEqual(['Page 1', 'Page 2']);
    expect(wrapper.find('#pages-select option[value="niceguy-1"]').text()).toContain('2 pages');
  });
});

describe('admin: wait until free', () => {
  it('sets "free from" as RFC 3339 with PATCH, and takes it away with a PUT of the episode without it', async () => {
    const waiting = { ...niceguy, seriesId: 'niceguy', freeFrom: '2030-01-02T03:04:00Z' };
    signInAs('root', ['admin', 'reader']);
    const api = mockApi([
      { method: 'GET', path: '/webtoons', reply: hal(collection('webtoons', [niceguy, { ...waiting, webtoonId: 'niceguy-2', episode: 2 }])) },
      { method: 'GET', path: '/series', reply: hal(collection('series', [])) },
      { method: 'PATCH', path: '/webtoons/niceguy-1', reply: (c) => hal({ ...niceguy, ...(c.body as object) }) },
      { method: 'PUT', path: '/webtoons/niceguy-2', reply: (c) => hal({ ...niceguy, webtoonId: 'niceguy-2', ...(c.body as object) }) },
    ]);
    const { wrapper } = await mountAt(AdminView, '/admin');
    await wrapper.find('#edit-select').setValue('niceguy-1');
    await wrapper.find('#edit-freeFrom').setValue('2030-01-02T03:04');
    await editForm(wrapper).trigger('submit');
    await flushPromises();
    const patch = api.to('PATCH', '/webtoons/niceguy-1')[0].body as { freeFrom: string };
    expect(Object.keys(patch)).toEqual(['freeFrom']);
    expect(Date.parse(patch.freeFrom)).toBe(new Date('2030-01-02T03:04').getTime());
    expect(patch.freeFrom).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    await wrapper.find('#edit-select').setValue('niceguy-2');
    await flushPromises();
    await wrapper.find('#edit-freeFrom').setValue('');
    await editForm(wrapper).trigger('submit');
    await flushPromises();
    expect(api.to('PUT', '/webtoons/niceguy-2')[0].body).toEqual({
      title: 'Nice Guy',
      author: 'Kim',
      point: 100,
      episode: 2,
      status: 'published',
      seriesId: 'niceguy',
    });
  });
});
