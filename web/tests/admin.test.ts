import { flushPromises } from '@vue/test-utils';
import { describe, expect, it, vi } from 'vitest';
import AdminView from '../src/views/AdminView.vue';
import { IDEMPOTENCY_KEY, collection, hal, mockApi, mountAt, problem, signInAs, type Route } from './helpers';

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
