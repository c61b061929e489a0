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
  synopsisMax: 2000,
  genresMax: 8,
  /** Image uploads (WEBTOON_IMAGE_MAX_BYTES's default). */
  imageMaxBytes: 20 * 1024 * 1024,
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
  /** Empty: the server puts the episode in the series its id names (niceguy-1 -> niceguy). */
  seriesId: string;
  title: string;
  author: string;
  point: string;
  episode: string;
  status: 'published' | 'hidden';
  /** A datetime-local value (the admin's time zone), or empty for "never free". */
  freeFrom: string;
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
  if (draft.freeFrom && localTimeToIso(draft.freeFrom) === null) errors.freeFrom = 'Enter a date and time, or leave it empty.';
  return errors;
}

/** A datetime-local value ("2026-12-05T18:00") as RFC 3339 in UTC; null when it is not a time. */
export function localTimeToIso(value: string): string | null {
  if (!value.trim()) return null;
  const t = new Date(value);
  return Number.isNaN(t.getTime()) ? null : t.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** RFC 3339 as a datetime-local value in this browser's time zone. */
export function isoToLocalTime(iso: string | undefined): string {
  if (!iso) return '';
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return '';
  const local = new Date(t.getTime() - t.getTimezoneOffset() * 60_000);
  return local.toISOString().slice(0, 16);
}

export interface SeriesDraft {
  seriesId: string;
  title: string;
  author: string;
  synopsis: string;
  genres: string[];
  status: 'ongoing' | 'completed' | 'hiatus';
}

export type SeriesErrors = Partial<Record<keyof SeriesDraft, string>>;

export function validateSeries(draft: SeriesDraft): SeriesErrors {
  const errors: SeriesErrors = {};
  const put = (k: keyof SeriesDraft, e: string | null) => {
    if (e) errors[k] = e;
  };
  put('seriesId', idError(draft.seriesId, 'a series id'));
  put('title', textError(draft.title, 'a title', LIMITS.titleMax));
  put('author', textError(draft.author, 'an author', LIMITS.authorMax));
  if (Array.from(draft.synopsis.trim()).length > LIMITS.synopsisMax)
    errors.synopsis = `The synopsis must be at most ${LIMITS.synopsisMax.toLocaleString('en-US')} characters.`;
  if (draft.genres.length > LIMITS.genresMax) errors.genres = `Choose at most ${LIMITS.genresMax} genres.`;
  return errors;
}

const IMAGE_TYPES = ['image/png', 'image/jpeg', 'image/webp'];

/** Why this file cannot be uploaded as a cover or page, or null. (The server sniffs the bytes itself.) */
export function imageFileError(file: File): string | null {
  if (!IMAGE_TYPES.includes(file.type)) return `${file.name} is not a PNG, JPEG or WebP image.`;
  if (file.size > LIMITS.imageMaxBytes) return `${file.name} is larger than ${LIMITS.imageMaxBytes / 1024 / 1024} MiB.`;
  if (file.size === 0) return `${file.name} is empty.`;
  return null;
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
