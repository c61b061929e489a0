// Client-side checks that mirror the API's limits (docs/API.md and
// api/openapi.json; the numbers are the services' own WEBTOON_*_MAX and
// PAYMENT_*), so a person learns about a mistake before a round trip. The
// server stays the judge.

export const LIMITS = {
  /** Client-chosen ids (userId, webtoonId): 1–64 of [A-Za-z0-9._:-]. */
  idPattern: /^[A-Za-z0-9._:-]{1,64}$/,
  idMax: 64,
  titleMax: 200,
  authorMax: 100,
  priceMin: 0,
  priceMax: 100_000,
  episodeMin: 1,
  episodeMax: 100_000,
  chargeMin: 1,
  chargeMax: 1_000_000,
  cardMinDigits: 12,
  cardMaxDigits: 19,
} as const;

export const ID_HINT = '1 to 64 characters: letters, digits, dot, dash, underscore or colon.';

export function idError(value: string, what: string): string | null {
  const v = value.trim();
  if (!v) return `Enter ${what}.`;
  if (v.length > LIMITS.idMax) return `${capitalize(what)} must be at most ${LIMITS.idMax} characters.`;
  if (!LIMITS.idPattern.test(v)) return `${capitalize(what)} may only use letters, digits, dot, dash, underscore or colon.`;
  return null;
}

/** Parses a whole number typed as text; null when it is not one. */
export function parseWhole(value: string): number | null {
  const v = value.trim().replace(/[,_\s]/g, '');
  if (!/^\d+$/.test(v)) return null;
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : null;
}

export function wholeError(value: string, what: string, min: number, max: number): string | null {
  if (!value.trim()) return `Enter ${what}.`;
  const n = parseWhole(value);
  if (n === null) return `${capitalize(what)} must be a whole number.`;
  if (n < min || n > max)
    return `${capitalize(what)} must be between ${min.toLocaleString('en-US')} and ${max.toLocaleString('en-US')}.`;
  return null;
}

function textError(value: string, what: string, max: number): string | null {
  const v = value.trim();
  if (!v) return `Enter ${what}.`;
  // Characters as a person counts them (code points), as the server does.
  if (Array.from(v).length > max) return `${capitalize(what)} must be at most ${max} characters.`;
  return null;
}

function capitalize(s: string): string {
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}

export interface WebtoonDraft {
  webtoonId: string;
  title: string;
  author: string;
  point: string;
  episode: string;
  status: 'published' | 'hidden';
}

export type WebtoonErrors = Partial<Record<keyof WebtoonDraft, string>>;

export function validateWebtoon(draft: WebtoonDraft, withId: boolean): WebtoonErrors {
  const errors: WebtoonErrors = {};
  const put = (k: keyof WebtoonDraft, e: string | null) => {
    if (e) errors[k] = e;
  };
  if (withId) put('webtoonId', idError(draft.webtoonId, 'an episode id'));
  put('title', textError(draft.title, 'a title', LIMITS.titleMax));
  put('author', textError(draft.author, 'an author', LIMITS.authorMax));
  put('point', wholeError(draft.point, 'the price in points', LIMITS.priceMin, LIMITS.priceMax));
  put('episode', wholeError(draft.episode, 'the episode number', LIMITS.episodeMin, LIMITS.episodeMax));
  if (draft.status !== 'published' && draft.status !== 'hidden') errors.status = 'Choose published or hidden.';
  return errors;
}

export function chargeErrors(point: string, card: string): { point?: string; card?: string } {
  const errors: { point?: string; card?: string } = {};
  const p = wholeError(point, 'the number of points', LIMITS.chargeMin, LIMITS.chargeMax);
  if (p) errors.point = p;
  const c = cardDigits(card);
  if (c && !new RegExp(`^[0-9]{${LIMITS.cardMinDigits},${LIMITS.cardMaxDigits}}$`).test(c))
    errors.card = `A card number is ${LIMITS.cardMinDigits} to ${LIMITS.cardMaxDigits} digits; spaces and dashes are fine.`;
  return errors;
}

/** The card number as sent: the digits, without the spaces or dashes people type. */
export function cardDigits(card: string): string {
  return card.trim().replace(/[\s-]+/g, '');
}
