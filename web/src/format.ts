// Plain-words formatting shared by the screens: points, money, dates,
// statuses and the reasons the services give for a rejection.

const numberFormat = new Intl.NumberFormat('en-US');

export function formatNumber(n: number): string {
  return numberFormat.format(n);
}

export function formatPoints(n: number): string {
  return `${formatNumber(n)} ${n === 1 ? 'point' : 'points'}`;
}

/** Money is an integer in the smallest currency unit (point × 100). */
export function formatPrice(n: number): string {
  return formatNumber(n);
}

/** Services send times as epoch milliseconds; ISO strings are accepted too. */
export function formatDate(when: string | number | undefined): string {
  if (when === undefined || when === '') return '';
  // A number this small is in seconds, not milliseconds.
  const d = new Date(typeof when === 'number' && when < 1e11 ? when * 1000 : when);
  if (Number.isNaN(d.getTime())) return String(when);
  return d.toLocaleString('en-US', { dateStyle: 'medium', timeStyle: 'short' });
}

/** The machine-readable form for <time datetime>. */
export function isoDate(when: string | number | undefined): string | undefined {
  if (when === undefined || when === '') return undefined;
  const d = new Date(typeof when === 'number' && when < 1e11 ? when * 1000 : when);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

const STATUS_LABELS: Record<string, string> = {
  pending: 'Pending',
  approved: 'Approved',
  rejected: 'Rejected',
  cancelling: 'Cancelling',
  cancelled: 'Cancelled',
  declined: 'Declined',
  refunding: 'Refunding',
  refunded: 'Refunded',
  joined: 'Joined',
  withdrawn: 'Withdrawn',
  published: 'Published',
  hidden: 'Hidden',
};

export function statusLabel(status: string | undefined): string {
  if (!status) return 'Unknown';
  return STATUS_LABELS[status] ?? humanize(status);
}

const KIND_LABELS: Record<string, string> = {
  account: 'Account',
  payment: 'Payment',
  purchase: 'Purchase',
  read: 'Read',
};

export function kindLabel(kind: string): string {
  return KIND_LABELS[kind] ?? humanize(kind);
}

const GENRE_LABELS: Record<string, string> = { 'sci-fi': 'Sci-fi' };

/** "slice-of-life" → "Slice of life". */
export function genreLabel(genre: string): string {
  return GENRE_LABELS[genre] ?? humanize(genre);
}

/** "insufficient-points" → "Insufficient points". */
export function humanize(slug: string): string {
  const words = slug.replace(/[-_]+/g, ' ').replace(/([a-z])([A-Z])/g, '$1 $2').trim().toLowerCase();
  return words ? words[0].toUpperCase() + words.slice(1) : '';
}

// Reasons are codes or short sentences chosen by the services; the known ones
// get a friendlier sentence, anything else is shown humanized.
const REASONS: Record<string, string> = {
  'insufficient-points': 'You do not have enough points',
  'not-enough-points': 'You do not have enough points',
  'insufficient-balance': 'You do not have enough points',
  'unknown-user': 'The account does not exist',
  'user-withdrawn': 'The account was withdrawn',
  'unknown-webtoon': 'The episode does not exist',
  'webtoon-hidden': 'The episode is not on sale right now',
  'already-owned': 'You already own this episode',
  'already-read': 'You already read this episode',
  'points-spent': 'The points from this payment were already spent',
  'insufficient-points-for-refund': 'The points from this payment were already spent',
  'card-declined': 'The card was declined',
  'payment-declined': 'The payment was declined',
};

export function plainReason(reason: string | undefined): string {
  if (!reason || !reason.trim()) return 'No reason was given';
  const r = reason.trim();
  const key = r.toLowerCase().replace(/[_\s]+/g, '-');
  if (REASONS[key]) return REASONS[key];
  // A code such as "points_spent" or "PointsSpent" reads better humanized; a
  // sentence from the server is kept as written.
  if (/^[A-Za-z]+([-_][A-Za-z]+)*$/.test(r)) return humanize(r);
  const s = r.replace(/[.]$/, '');
  return s[0].toUpperCase() + s.slice(1);
}
