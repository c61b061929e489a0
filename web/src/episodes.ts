// What a reader can do with an episode right now: free (price 0, or its
// "wait until free" time has passed), free later, or for sale; and which
// series count as having a new episode.

import type { Series, Webtoon } from './api';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** A series whose latest episode came out within this long shows "New episode". */
export const NEW_EPISODE_MS = 7 * DAY_MS;

function timeOf(iso: string | undefined): number | null {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

export function isFreeNow(w: Pick<Webtoon, 'point' | 'freeFrom'>, now = Date.now()): boolean {
  if (w.point === 0) return true;
  const from = timeOf(w.freeFrom);
  return from !== null && from <= now;
}

/** "Free in 3 days" for an episode that becomes free later; null otherwise. */
export function freeInWords(w: Pick<Webtoon, 'point' | 'freeFrom'>, now = Date.now()): string | null {
  const from = timeOf(w.freeFrom);
  if (from === null || isFreeNow(w, now)) return null;
  const left = from - now;
  if (left >= DAY_MS) {
    const days = Math.ceil(left / DAY_MS);
    return `Free in ${days} ${days === 1 ? 'day' : 'days'}`;
  }
  const hours = Math.max(1, Math.ceil(left / HOUR_MS));
  return `Free in ${hours} ${hours === 1 ? 'hour' : 'hours'}`;
}

export function hasNewEpisode(s: Pick<Series, 'latestEpisodeAt'>, now = Date.now()): boolean {
  const latest = timeOf(s.latestEpisodeAt);
  return latest !== null && now - latest <= NEW_EPISODE_MS;
}

// Episodes bought in this tab a moment ago: the catalog learns of a purchase
// from an event, so an open right after it may still be refused for a moment.
const boughtAt = new Map<string, number>();

export function rememberPurchase(webtoonId: string): void {
  boughtAt.set(webtoonId, Date.now());
}

export function boughtMomentsAgo(webtoonId: string, withinMs = 10_000): boolean {
  const at = boughtAt.get(webtoonId);
  return at !== undefined && Date.now() - at < withinMs;
}
