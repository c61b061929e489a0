import { flushPromises } from '@vue/test-utils';
import { describe, expect, it, vi } from 'vitest';
import PointsView from '../src/views/PointsView.vue';
import { setLoading } from '../src/session';
import { IDEMPOTENCY_KEY, collection, hal, mockApi, mountAt, problem, type Route, signInAs } from './helpers';

function routes(extra: Route[] = [], balances = [100]): Route[] {
  return [
    ...extra,
    {
      method: 'GET',
      path: '/pointers/alice',
      reply: balances.map((point) => hal({ userId: 'alice', point, status: 'joined' })),
    },
    { method: 'GET', path: '/payments?userId=alice', reply: hal(collection('payments', [])) },
  ];
}

async function mountPoints(extra: Route[] = [], balances?: number[]) {
  signInAs('alice');
  const api = mockApi(routes(extra, balances));
  const { wrapper } = await mountAt(PointsView, '/points');
  return { api, wrapper };
}

describe('my points: charge form', () => {
  it('shows the balance', async () => {
    const { wrapper } = await mountPoints();
    expect(wrapper.find('[data-testid="balance"]').text()).toBe('100 points');
  });

  it.each([
    ['', 'Enter the number of points.'],
    ['0', 'The number of points must be between 1 and 1,000,000.'],
    ['1000001', 'The number of points must be between 1 and 1,000,000.'],
    ['1.5', 'The number of points must be a whole number.'],
    ['-5', 'The number of points must be a whole number.'],
    ['ten', 'The number of points must be a whole number.'],
  ])('refuses %j before sending anything: %s', async (value, message) => {
    const { api, wrapper } = await mountPoints();
    const input = wrapper.find('#charge-point');
    await input.setValue(value);
    await wrapper.find('form').trigger('submit');
    await flushPromises();
    expect(wrapper.find('#charge-point-error').text()).toBe(message);
    expect(input.attributes('aria-invalid')).toBe('true');
    expect(input.attributes('aria-describedby')).toContain('charge-point-error');
    expect(document.activeElement).toBe(input.element);
    expect(api.to('POST', '/payments')).toHaveLength(0);
  });

  it.each(['4000<script>', '4000 0000 000', '4000 0000 0000 0000 0002'])('refuses the malformed test card %j', async (card) => {
    const { api, wrapper } = await mountPoints();
    await wrapper.find('#charge-point').setValue('10');
    await wrapper.find('#charge-card').setValue(card);
    await wrapper.find('form').trigger('submit');
    expect(wrapper.find('#charge-card-error').text()).toBe('A card number is 12 to 19 digits; spaces and dashes are fine.');
    expect(wrapper.find('#charge-card').attributes('aria-invalid')).toBe('true');
    expect(wrapper.find('#charge-point').attributes('aria-invalid')).toBeUndefined();
    expect(api.to('POST', '/payments')).toHaveLength(0);
  });

  it('shows the price as point × 100 while typing', async () => {
    const { wrapper } = await mountPoints();
    await wrapper.find('#charge-point').setValue('250');
    expect(wrapper.find('[data-testid="price-preview"]').text()).toBe('You pay 25,000.');
    await wrapper.find('#charge-point').setValue('abc');
    expect(wrapper.find('[data-testid="price-preview"]').text()).toBe('');
  });

  it('charges with the price, an idempotency key, and reports the new balance', async () => {
    const { api, wrapper } = await mountPoints(
      [
        {
          method: 'POST',
          path: '/payments',
          reply: hal({ paymentId: 'p-1', userId: 'alice', point: 500, price: 50000, status: 'approved' }, 201),
        },
      ],
      // The balance catches up after the payment event is handled.
      [100, 100, 600],
    );
    await wrapper.find('#charge-point').setValue(' 500 ');
    await wrapper.find('form').trigger('submit');
    await vi.waitFor(() => expect(wrapper.find('.message-success').text()).toContain('balance'));
    const post = api.to('POST', '/payments');
    expect(post).toHaveLength(1);
    expect(post[0].body).toEqual({ userId: 'alice', point: 500, price: 50000 });
    expect(post[0].headers.get('Idempotency-Key')).toMatch(IDEMPOTENCY_KEY);
    expect(wrapper.find('.message-success').text()).toBe(
      'Payment approved: 500 points charged for 50,000. Your balance is 600 points.',
    );
    expect(wrapper.find('[data-testid="balance"]').text()).toBe('600 points');
    expect((wrapper.find('#charge-point').element as HTMLInputElement).value).toBe('');
  });

  it('sends the test card and explains a declined payment in plain words', async () => {
    const { api, wrapper } = await mountPoints([
      {
        method: 'POST',
        path: '/payments',
        reply: problem(402, 'payment-declined', 'Payment declined', 'the payment was declined: card declined', {
          paymentId: 'p-9',
        }),
      },
    ]);
    await wrapper.find('#charge-point').setValue('10');
    await wrapper.find('#charge-card').setValue('4000-0000-0000-0002');
    await wrapper.find('form').trigger('submit');
    await vi.waitFor(() => expect(wrapper.find('.message-error').exists()).toBe(true));
    expect(api.to('POST', '/payments')[0].body).toEqual({ userId: 'alice', point: 10, price: 1000, card: '4000000000000002' });
    expect(wrapper.find('.message-error').text()).toBe(
      'Payment declined: the card was declined. No points were added: your balance is still 100 points.',
    );
    expect(wrapper.find('[data-testid="balance"]').text()).toBe('100 points');
  });

  it('submitting twice while the first charge is running sends one payment', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const { api, wrapper } = await mountPoints([
      {
        method: 'POST',
        path: '/payments',
        reply: async () => {
          await gate;
          return hal({ paymentId: 'p-1', userId: 'alice', point: 5, price: 500, status: 'approved' }, 201);
        },
      },
    ]);
    await wrapper.find('#charge-point').setValue('5');
    await wrapper.find('form').trigger('submit');
    await wrapper.find('form').trigger('submit');
    expect(wrapper.find('button[type="submit"]').attributes('disabled')).toBeDefined();
    release();
    await vi.waitFor(() => expect(wrapper.find('.message-success').exists()).toBe(true));
    expect(api.to('POST', '/payments')).toHaveLength(1);
  });
});

describe('my points: refunds', () => {
  it('refunds an approved payment and follows it until refunded', async () => {
    signInAs('alice');
    const payment = { paymentId: 'p-1', userId: 'alice', point: 50, price: 5000, status: 'approved', createdAt: Date.UTC(2025, 0, 2, 3, 4, 5) };
    const api = mockApi([
      { method: 'GET', path: '/pointers/alice', reply: [hal({ userId: 'alice', point: 50, status: 'joined' }), hal({ userId: 'alice', point: 0, status: 'joined' })] },
      { method: 'GET', path: '/payments?userId=alice', reply: hal(collection('payments', [payment])) },
      { method: 'PUT', path: '/payments/p-1/refund', reply: hal({ ...payment, status: 'refunding' }, 202) },
      { method: 'GET', path: '/payments/p-1', reply: hal({ ...payment, status: 'refunded' }) },
    ]);
    const { wrapper } = await mountAt(PointsView, '/points');
    const refundButton = wrapper.find('[data-payment="p-1"] button');
    expect(refundButton.attributes('aria-label')).toContain('Refund the payment of 50 points');
    await refundButton.trigger('click');
    await vi.waitFor(() => expect(wrapper.find('.message-success').exists()).toBe(true));
    expect(api.to('PUT', '/payments/p-1/refund')[0].headers.get('Idempotency-Key')).toMatch(IDEMPOTENCY_KEY);
    expect(wrapper.find('.message-success').text()).toBe(
      'Refund complete: 5,000 returned and 50 points taken back. Your balance is 0 points.',
    );
    expect(wrapper.find('[data-payment="p-1"] .status').text()).toBe('Refunded');
    expect(wrapper.find('[data-payment="p-1"] button').exists()).toBe(false);
  });

  it('says why a refund failed and that nothing changed', async () => {
    signInAs('alice');
    const payment = { paymentId: 'p-1', userId: 'alice', point: 50, price: 5000, status: 'approved' };
    mockApi([
      { method: 'GET', path: '/pointers/alice', reply: hal({ userId: 'alice', point: 10, status: 'joined' }) },
      { method: 'GET', path: '/payments?userId=alice', reply: hal(collection('payments', [payment])) },
      { method: 'PUT', path: '/payments/p-1/refund', reply: hal({ ...payment, status: 'refunding' }, 202) },
      {
        method: 'GET',
        path: '/payments/p-1',
        reply: hal({ ...payment, status: 'approved', refundError: 'the points could not be taken back' }),
      },
    ]);
    const { wrapper } = await mountAt(PointsView, '/points');
    await wrapper.find('[data-payment="p-1"] button').trigger('click');
    await vi.waitFor(() => expect(wrapper.find('.message-error').exists()).toBe(true));
    expect(wrapper.find('.message-error').text()).toBe(
      'Refund failed: The points could not be taken back. Nothing changed.',
    );
  });
});

describe('my points: signed out', () => {
  it('asks to sign in (or sign up) and reads nothing', async () => {
    const api = mockApi([]);
    const { wrapper } = await mountAt(PointsView, '/points');
    expect(wrapper.find('.sign-in-prompt p').text()).toBe('To see and charge your points, please sign in.');
    expect(wrapper.findAll('.sign-in-prompt button').map((b) => b.text())).toEqual(['Sign in', 'Sign up']);
    expect(wrapper.find('#charge-point').exists()).toBe(false);
    expect(api.calls).toHaveLength(0);
  });

  it('shows a sign-in check, not a prompt, while sign-in is being found out', async () => {
    setLoading();
    mockApi([]);
    const { wrapper } = await mountAt(PointsView, '/points');
    expect(wrapper.find('main, section').text()).toContain('Checking your sign-in…');
    expect(wrapper.find('.sign-in-prompt').exists()).toBe(false);
  });
});
